"""Feature modules, one package each, found by :class:`ModuleRegistry`."""
