"""Software-defined assets: thin, they read through resources and call mechanisms and protocol."""
