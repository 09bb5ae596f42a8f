"""The filter engine: which nodes a request is for.

Clients build a :class:`Filter` from command-line options (:meth:`Filter.build`) or
parse pieces of it (:func:`parse_fact_filter`, :func:`parse_compound`) and send
``Filter.to_dict()`` with the request. Every node rebuilds it with
:meth:`Filter.from_dict` — which validates strictly, because the wire form comes from
the network — and answers only when :meth:`Filter.matches` says yes for its
:class:`Node`. :func:`describe` explains a filter in English.

The rules, with examples and the differences from MCollective, are in
``docs/filters.md``.
"""

from mcollective.errors import FilterSyntaxError
from mcollective.filters._compound import (
    MAX_DEPTH,
    MAX_NODES,
    And,
    ClassTest,
    DataTest,
    Expr,
    Not,
    Or,
    expr_from_wire,
    parse_compound,
)
from mcollective.filters._facts import FactFilter, parse_fact_filter
from mcollective.filters._filter import DataLookup, Filter, Node, describe
from mcollective.filters._values import OPERATORS

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "OPERATORS",
    "And",
    "ClassTest",
    "DataLookup",
    "DataTest",
    "Expr",
    "FactFilter",
    "Filter",
    "FilterSyntaxError",
    "Node",
    "Not",
    "Or",
    "describe",
    "expr_from_wire",
    "parse_compound",
    "parse_fact_filter",
]
