"""DDLs generated from Python agent classes (``@action``, typed parameters, ``Input`` and
``Output``), and agents built that way serving requests."""

from __future__ import annotations

import json
from typing import Annotated, Any, ClassVar, Literal

import pytest
from collective_helpers import nodes
from inprocess import client

from mcollective.agent import Agent, AgentReply, AgentRequest, Input, Output, action
from mcollective.agent_builder import action_spec, build_agent_ddl, declared_actions
from mcollective.ddl import AgentDDL, aggregate_spec
from mcollective.errors import DDLError, DDLValidationError


class Greeter(Agent):
    """Greets people politely.

    Second paragraph, not part of the description."""

    metadata: ClassVar[dict[str, Any]] = {"version": "1.2.3", "author": "ops@example.net",
                                          "license": "Apache-2.0",
                                          "url": "https://example.net/greeter",
                                          "timeout": 5}

    @action(display="always", outputs={"message": Output("The greeting"),
                                       "count": Output("How many", display_as="Times",
                                                       default=0, type="integer")},
            aggregates=[aggregate_spec("summary", "message"), ("sum", "count")])
    def greet(self, request: AgentRequest, reply: AgentReply, *,
              name: Annotated[str, Input("Who to greet", validation=r"^\w+$",
                                         maxlength=20)],
              times: int = 1,
              tone: Literal["warm", "formal"] = "warm",
              ratio: int | float | None = None,
              shout: bool = False,
              tags: list[str] | None = None,
              extra: dict[str, Any] | None = None) -> None:
        """Greet somebody."""
        text = f"{'Hello' if tone == 'warm' else 'Good day'} {name}"
        reply["message"] = (text.upper() if shout else text) + "!" * times
        reply["count"] = times

    @action
    def ping(self, request: AgentRequest, reply: AgentReply) -> None:
        """Answer pong."""
        reply["pong"] = True

    def helper(self) -> str:  # not an action: not in the DDL, not callable remotely
        return "internal"


def test_metadata_and_actions_come_from_the_class() -> None:
    ddl = Greeter.load_ddl()
    assert ddl.metadata.to_dict() == {
        "name": "greeter", "description": "Greets people politely.",
        "author": "ops@example.net", "license": "Apache-2.0", "version": "1.2.3",
        "url": "https://example.net/greeter", "timeout": 5}
    assert list(ddl.actions) == ["greet", "ping"]
    assert ddl.action("ping").description == "Answer pong."
    assert ddl.action("ping").display == "failed"


def test_inputs_come_from_typed_parameters() -> None:
    greet = Greeter.load_ddl().action("greet")
    inputs = {name: item.to_dict() for name, item in greet.inputs.items()}
    assert inputs["name"] == {"prompt": "Name", "description": "Who to greet",
                              "type": "string", "default": None, "optional": False,
                              "validation": r"^\w+$", "maxlength": 20}
    assert (inputs["times"]["type"], inputs["times"]["optional"],
            inputs["times"]["default"]) == ("integer", True, 1)
    assert inputs["tone"]["type"] == "list" and inputs["tone"]["list"] == ["warm", "formal"]
    assert inputs["ratio"]["type"] == "number" and inputs["ratio"]["optional"] is True
    assert inputs["shout"] == {"prompt": "Shout", "description": "shout", "type": "boolean",
                               "default": False, "optional": True}
    assert inputs["tags"]["type"] == "array" and inputs["extra"]["type"] == "hash"


def test_outputs_and_aggregates() -> None:
    greet = Greeter.load_ddl().action("greet")
    assert greet.outputs["message"].display_as == "Message"
    assert greet.outputs["count"].to_dict() == {"description": "How many",
                                                "display_as": "Times", "default": 0,
                                                "type": "integer"}
    assert [(a.function, a.output) for a in greet.aggregates] == [("summary", "message"),
                                                                   ("sum", "count")]
    assert greet.display == "always"


def test_generated_ddl_round_trips_through_json() -> None:
    ddl = Greeter.build_ddl()
    again = AgentDDL.from_dict(json.loads(ddl.to_json()))
    assert again.to_dict() == ddl.to_dict()


def test_generated_ddl_validates_requests_like_a_json_one() -> None:
    greet = Greeter.load_ddl().action("greet")
    assert greet.validate({"name": "bob"}) == {"name": "bob", "times": 1, "tone": "warm",
                                               "shout": False}
    with pytest.raises(DDLValidationError, match="name"):
        greet.validate({"name": "two words"})
    with pytest.raises(DDLValidationError, match="tone"):
        greet.validate({"name": "bob", "tone": "rude"})
    assert greet.coerce({"name": "bob", "times": "3", "shout": "yes"}) == {
        "name": "bob", "times": 3, "shout": True}


def test_only_decorated_methods_are_actions() -> None:
    assert [name for name, _ in declared_actions(Greeter)] == ["greet", "ping"]
    assert action_spec(Greeter.helper) is None
    assert action_spec(Greeter.greet).params == ("name", "times", "tone", "ratio", "shout",
                                                 "tags", "extra")


def test_subclasses_inherit_and_override_actions() -> None:
    class Louder(Greeter):
        @action(description="Shout pong")
        def ping(self, request: AgentRequest, reply: AgentReply) -> None:
            reply["pong"] = "PONG"

    ddl = build_agent_ddl(Louder)
    assert ddl.name == "louder" and ddl.action("ping").description == "Shout pong"
    assert "greet" in ddl.actions


def test_a_json_file_beside_the_module_wins_over_decorators() -> None:
    from mcollective.agents.rpcutil import Rpcutil

    assert Rpcutil.load_ddl().source is not None  # read from rpcutil.json


def test_inputs_given_in_the_decorator() -> None:
    class Files(Agent):
        @action(inputs={"path": Input("A path", validation="^/"),
                        "mode": Input("Mode", list=["r", "w"], optional=True)})
        def stat(self, request: AgentRequest, reply: AgentReply) -> None:
            """Stat a file."""

    inputs = Files.load_ddl().action("stat").inputs
    assert inputs["path"].optional is False and inputs["path"].validation == "^/"
    assert inputs["mode"].type == "list" and inputs["mode"].optional is True


def test_description_defaults() -> None:
    class Bare(Agent):
        @action
        def go_now(self, request: AgentRequest, reply: AgentReply) -> None:
            pass

    ddl = Bare.load_ddl()
    assert ddl.metadata.description == "The bare agent"
    assert ddl.action("go_now").description == "go now"
    assert (ddl.metadata.version, ddl.metadata.timeout) == ("0.0.0", 10)


@pytest.mark.parametrize(("define", "message"), [
    ("def a(self, request, reply, *, x: object) -> None: ...", "has no DDL equivalent"),
    ("def a(self, request, reply, *, x: Any) -> None: ...", "annotated Any"),
    ("def a(self, request) -> None: ...", r"takes \(self, request, reply"),
    ("def a(self, request, reply, *, x: 'Nope') -> None: ...", "cannot resolve"),
    ("def a(self, request, reply, *, x: Annotated[str, Input(validation='(')]) -> None: ...",
     "not a valid regular expression"),
])
def test_mistakes_are_reported_when_the_class_is_defined(define: str, message: str) -> None:
    namespace: dict[str, Any] = {"Any": Any, "Annotated": Annotated, "Input": Input}
    with pytest.raises(DDLError, match=message):
        exec(f"@action\n{define}", {"action": action, **namespace})


def test_unknown_metadata_keys_are_refused() -> None:
    class Odd(Agent):
        metadata: ClassVar[dict[str, Any]] = {"colour": "blue"}

        @action
        def a(self, request: AgentRequest, reply: AgentReply) -> None:
            pass

    with pytest.raises(DDLError, match="colour"):
        Odd.build_ddl()


def test_a_class_without_ddl_or_actions_says_so() -> None:
    class Empty(Agent):
        def a(self, request: AgentRequest, reply: AgentReply) -> None:
            pass

    with pytest.raises(DDLError, match="no @action methods"):
        Empty.load_ddl()


def test_typed_parameters_receive_the_validated_inputs_through_a_daemon() -> None:
    with nodes("n1", agents={"greeter": Greeter}) as env:
        c = client(env.session, "greeter")
        [res] = c.call("greet", name="bob", times=2, tone="formal")
        assert res.statuscode == 0, res.statusmsg
        assert res.data == {"message": "Good day bob!!", "count": 2}
        [res] = c.call("greet", name="amy")  # defaults filled by the server
        assert res.data["message"] == "Hello amy!"
        [res] = c.call("ping")
        assert res.data == {"pong": True}
        c._ddl = None  # a client without the DDL: the server still refuses bad input
        [res] = c.call("helper")
        assert res.statuscode == 2
        [res] = c.call("greet", {"name": "x y"})
        assert res.statuscode == 4 and "name" in res.statusmsg
