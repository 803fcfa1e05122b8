"""A handler module that cannot be imported, as when a dependency is missing from the package."""

raise ImportError("No module named 'a_dependency_left_out'")
