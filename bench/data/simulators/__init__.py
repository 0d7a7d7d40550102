"""Built-in simulators: each writes recordings in the same file format as real data of its task
(``nhp``: monkey reaching; later handwriting and speech), registered as data sources."""
