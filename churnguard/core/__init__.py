"""The foundation every layer builds on: settings, the data contract, errors, atomic writes, progress."""
