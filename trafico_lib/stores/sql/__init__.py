"""SQL both stores run: the direct path on its connection, the REST store through the functions rendered from it."""
