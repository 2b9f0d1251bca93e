"""Pure checks: observations of the student's code against the reference, one result per id."""
