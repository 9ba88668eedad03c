"""Pure comment parsers: text in, dataclasses out. No I/O, no logging, no database."""
