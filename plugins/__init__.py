"""Built-in ganbench plugins, registered through the `ganbench` entry-point group."""
