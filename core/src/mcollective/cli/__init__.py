"""The ``mco`` command line: a dispatcher over application plugins."""
