"""Where forward mode stops paying: the crossing of the measured time ratio of
the two modes with 1.

Code of the chapter *Forward vs reverse mode on the device*
(``book/performance/modes-on-the-device.md``). The chapter times Jacobians
with :func:`~sciml_nn.forward_mode.jacobian_costs` and engine sweeps with
:func:`~sciml_nn.reverse_mode.sweep_times` on the device that builds it; this
module reads the Jacobian timings.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from sciml_nn.core.checks import check_float

#: What :func:`time_ratios` reads from each timing.
KEYS = ("n", "m", "forward", "reverse")


def time_ratios(
    costs: Sequence[Mapping[str, float]],
) -> tuple[np.ndarray, np.ndarray]:
    """The aspect :math:`n/m` of each Jacobian of ``costs`` and the time ratio
    :math:`t_F/t_R` of building it from :math:`n` JVPs and from :math:`m`
    VJPs, for dictionaries with the keys ``"n"``, ``"m"``, ``"forward"`` and
    ``"reverse"``, as :func:`~sciml_nn.forward_mode.jacobian_costs` returns.

    The cost model :math:numref:`eq-jacobian-cost` predicts
    :math:`t_F/t_R = (c_F/c_R)\\, n/m`.
    """
    if isinstance(costs, Mapping) or len(costs) < 2:
        raise ValueError(
            "costs must be a sequence of at least two timings; got "
            f"{type(costs).__name__} of length {len(costs)}"
        )
    aspects, ratios = [], []
    for i, c in enumerate(costs):
        if not isinstance(c, Mapping) or any(key not in c for key in KEYS):
            raise ValueError(f"costs[{i}] must be a dict with keys {KEYS}")
        n, m, forward, reverse = (
            check_float(f"costs[{i}][{key!r}]", c[key], 0, low_open=True)
            for key in KEYS
        )
        aspects.append(n / m)
        ratios.append(forward / reverse)
    return np.array(aspects), np.array(ratios)


def crossings(costs: Sequence[Mapping[str, float]]) -> list[float]:
    """Every aspect :math:`n/m` at which the time ratio :math:`t_F/t_R` of
    :func:`time_ratios` crosses 1, where forward mode stops (or starts) being
    the cheaper.

    Between two neighbouring timings :math:`(a_i, r_i)` and
    :math:`(a_{i+1}, r_{i+1})` of opposite sides of 1, the ratio is taken as a
    straight line in log-log coordinates, as the power law of the cost model
    is, which crosses 1 at

    .. math:: \\log a^\\ast = \\log a_i + \\frac{\\log r_i}{\\log r_i - \\log
        r_{i+1}} \\left(\\log a_{i+1} - \\log a_i\\right).

    A timing with a ratio of exactly 1 is itself a crossing.
    """
    aspects, ratios = time_ratios(costs)
    log_aspect, log_ratio = np.log(aspects), np.log(ratios)
    found = []
    for i, (a, r) in enumerate(zip(log_aspect, log_ratio)):
        if r == 0:
            found.append(float(aspects[i]))
        elif i + 1 < len(log_ratio) and r * log_ratio[i + 1] < 0:
            t = r / (r - log_ratio[i + 1])
            found.append(float(np.exp(a + t * (log_aspect[i + 1] - a))))
    return found
