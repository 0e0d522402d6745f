"""Checking arguments, in one place: every function and every notebook parameter of the series
is validated by these few functions, so that bad input always gets the same kind of error:

    ValueError: latent_dim=0 is not valid; latent_dim must be an integer >= 1

It names the argument, the value given, and what is allowed, and it is raised before anything
is trained, written or changed.
"""

from __future__ import annotations

import math
import numbers

SEED_MAX = 2**32 - 1  # NumPy's limit; torch accepts more, but the seed must work everywhere


def is_int(value: object) -> bool:
    """An integer (Python's, NumPy's or a 0-d integer tensor's item), never a bool."""
    return isinstance(value, numbers.Integral) and not isinstance(value, bool)


def is_number(value: object) -> bool:
    """A finite real number (int or float, Python's or NumPy's), never a bool."""
    return (isinstance(value, numbers.Real) and not isinstance(value, bool)
            and math.isfinite(float(value)))


def invalid(name: str, value: object, valid: str) -> ValueError:
    """The one error message of the series: the argument, its value, what is allowed."""
    return ValueError(f"{name}={value!r} is not valid; {name} must be {valid}")


def check_choice(name: str, value: object, choices: tuple) -> object:
    """Return value if it is one of `choices`, else raise naming them all."""
    if not any(type(value) is type(c) and value == c for c in choices):
        raise invalid(name, value, "one of: " + ", ".join(repr(c) for c in choices))
    return value


def check_int(name: str, value: object, minimum: int | None = None, maximum: int | None = None) -> int:
    """Return value as an int if it is an integer in [minimum, maximum], else raise."""
    if not is_int(value) or (minimum is not None and value < minimum) or (maximum is not None and value > maximum):
        if minimum is not None and maximum is not None:
            raise invalid(name, value, f"an integer from {minimum} to {maximum}")
        raise invalid(name, value, "an integer" + (f" >= {minimum}" if minimum is not None else ""))
    return int(value)


def check_number(name: str, value: object, minimum: float = -math.inf, *, strict: bool = False,
                 hint: str = "") -> float:
    """Return value as a float if it is a finite number >= minimum (> minimum if strict), else raise."""
    if not is_number(value) or (value <= minimum if strict else value < minimum):
        valid = "a number" + ("" if minimum == -math.inf else f" {'>' if strict else '>='} {minimum:g}")
        raise invalid(name, value, valid + (f" ({hint})" if hint else ""))
    return float(value)


def check_fraction(name: str, value: object, hint: str) -> float:
    """Return value as a float if it is a number in [0, 1), else raise."""
    if not is_number(value) or not 0 <= value < 1:
        raise invalid(name, value, f"a number >= 0 and < 1 ({hint})")
    return float(value)


def check_seed(name: str, value: object) -> int:
    """A random seed: an integer from 0 to 2**32 - 1."""
    return check_int(name, value, 0, SEED_MAX)
