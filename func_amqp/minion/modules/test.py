"""func's `test` module: the calls people use to check that a minion answers at all.

`ping` for liveness, `add`/`echo`/`bigint` to check that values survive the trip, `explode*` for
the REMOTE_ERROR path, `sleep` for async jobs and timeouts. `sleep` and `slow_progress` also
report progress and output while they run, so live progress can be tried without a real workload.
"""

from __future__ import annotations

import math
import time
from typing import Any

from func_amqp.minion import func_module


class Test(func_module.FuncModule):
    version = "11.11.11"
    api_version = "0.0.1"
    description = "Just a very simple example module"

    class Config:
        example = "1"
        string_option = "some string here"
        int_option = 37
        bool_option = True
        float_option = 3.14159
        testvalue = "this is a test. It is only a test"

    @func_module.nonblocking
    def ping(self) -> int:
        return 1

    @func_module.nonblocking
    def add(self, numb1: Any, numb2: Any) -> Any:
        """numb1 + numb2, as func did: ints add, strings concatenate (CLI arguments are strings)."""
        try:
            return numb1 + numb2
        except TypeError:
            raise TypeError(f"cannot add {type(numb1).__name__} and {type(numb2).__name__}") from None

    @func_module.nonblocking
    def echo(self, data: Any) -> Any:
        return data

    @func_module.nonblocking
    def bigint(self) -> int:
        """A number above 2**32 - 1: XML-RPC's int is 32 bits, so this checks how a transport copes."""
        return 2**32

    @func_module.nonblocking
    def explode(self) -> None:
        raise Exception("khhhhhhaaaaaan!!!!!!")

    @func_module.nonblocking
    def explode_no_string(self) -> None:
        raise Exception()

    def sleep(self, t: Any) -> float:
        """Sleeps `t` seconds, reporting progress once a second; returns the time of day, as func did."""
        seconds = _seconds(t, "t")
        steps = max(1, math.ceil(seconds))
        deadline = time.monotonic() + seconds
        self.progress(0, steps)
        for step in range(1, steps + 1):
            time.sleep(max(0.0, min(1.0, deadline - time.monotonic())))
            self.progress(step, steps)
            self.output(f"slept {min(step, seconds):g} of {seconds:g} seconds")
        return time.time()

    def slow_progress(self, steps: Any = 5, delay: Any = 0.1) -> int:
        """Counts to `steps`, waiting `delay` seconds before each: a progress and output generator for
        tests of live progress. Returns the number of steps done."""
        count = _count(steps, "steps")
        pause = _seconds(delay, "delay")
        self.progress(0, count)
        for step in range(1, count + 1):
            time.sleep(pause)
            self.output(f"step {step} of {count}")
            self.progress(step, count)
        return count

    def configfoo(self) -> list[tuple[str, Any]]:
        """The module's options (from /etc/func/modules/Test.conf), as (name, value) pairs."""
        return self.config_items()

    def config_get(self, key_name: str) -> Any:
        options = dict(self.config_items())
        if key_name not in options:
            raise ValueError(f"no option {key_name!r}; options are {sorted(options)}")
        return options[key_name]

    def config_set(self, key_name: str, value: Any) -> list[tuple[str, Any]]:
        """Sets an option (converted to its type), saves the conf file, answers the options."""
        self._set_option(str(key_name), value)
        self.save_config()
        return self.config_items()

    def config_save(self) -> list[tuple[str, Any]]:
        """Saves the options to the conf file as they are, answers them."""
        self.save_config()
        return self.config_items()

    def config_get_test(self) -> str:
        return str(self.options.testvalue)

    def register_method_args(self) -> dict[str, Any]:
        def number(text: str) -> dict[str, Any]:
            return {"type": "int", "optional": False, "description": text}

        return {
            "ping": {"args": {}, "description": "Answers 1 if the minion is up"},
            "add": {"args": {"numb1": number("An int"), "numb2": number("An int")},
                    "description": "Gives back the sum of 2 integers"},
            "echo": {"args": {"data": {"type": "string", "optional": False, "description": "What to send back"}},
                     "description": "Gives back what it was sent"},
            "sleep": {"args": {"t": {"type": "float", "optional": False, "min": 0,
                                     "description": "How many seconds to sleep"}},
                      "description": "Sleeps for a while, reporting progress each second"},
            "slow_progress": {"args": {"steps": {**number("How many steps"), "optional": True, "default": 5, "min": 0},
                                       "delay": {"type": "float", "optional": True, "default": 0.1, "min": 0,
                                                 "description": "Seconds before each step"}},
                              "description": "Reports progress and output step by step"},
            "explode": {"args": {}, "description": "Raises an exception"},
            "explode_no_string": {"args": {}, "description": "Raises an exception with no message"},
            "bigint": {"args": {}, "description": "Gives back a number greater than 2^32-1"},
        }


def _seconds(value: Any, name: str) -> float:
    """A non-negative, finite number of seconds (CLI arguments arrive as strings)."""
    if isinstance(value, bool):
        raise TypeError(f"{name} must be a number of seconds, not a bool")
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        raise TypeError(f"{name} must be a number of seconds, not {value!r}") from None
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"{name} must be a finite number >= 0, not {value!r}")
    return seconds


def _count(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")
    try:
        count = int(value)
    except ValueError:
        raise ValueError(f"{name} must be an int, not {value!r}") from None
    if count < 0:
        raise ValueError(f"{name} must be >= 0, not {count}")
    return count
