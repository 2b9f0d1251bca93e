"""Runs student code in a forked, locked-down child process (see README "Security model")."""
