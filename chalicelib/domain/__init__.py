"""Pure domain: values, money, time, validation, rules, aggregates; no I/O."""
