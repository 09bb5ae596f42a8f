"""Core's ``mco`` applications, declared as entry points like third-party ones."""
