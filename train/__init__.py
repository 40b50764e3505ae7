"""Training and evaluation code. Not part of the installed package (vidlle never imports it)."""
