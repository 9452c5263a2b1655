"""A stand-in for ``yade-batch`` (YADE is not installed here): the synthetic triaxial model per table row.

Called as ``fake_yade_batch.py [-j N] [--log FORMAT] TABLE SCRIPT`` in the batch folder, like the real
one. Per row of TABLE (header ``!OMP_NUM_THREADS description key NAME ...``) it writes
``<description>.npy``, the pickled ``(params, features)`` pair that ``examples/yade/triax_template.py``
writes: the drained synthetic response at ``conf`` Pa to an axial strain of 0.1 in steps of 0.0005,
p and q in Pa. ``FAKE_YADE`` (JSON in the environment) makes it misbehave:
``{"sample_1": "missing" | "short" | "garbage", "exit": 3, "hang": true}`` (``hang``: after the
first row, start a child that sleeps and wait for it; its pid goes to ``hang.pid``).
"""

import json
import os
import subprocess
import sys
import time

import numpy as np

from simrnn.sequence.triaxial import triaxial_response

STRAIN = np.arange(201) * 0.0005


def main(argv: list[str]) -> int:
    behaviour = json.loads(os.environ.get("FAKE_YADE", "{}"))
    args, log_format = list(argv), "$.@.log"
    if "-j" in args:
        del args[args.index("-j"):args.index("-j") + 2]
    if "--log" in args:
        log_format = args[args.index("--log") + 1]
        del args[args.index("--log"):args.index("--log") + 2]
    table, script = args
    with open(table) as text:
        lines = [line.split() for line in text if line.strip()]
    header, rows = lines[0], lines[1:]
    print(f"fake yade-batch: {len(rows)} jobs of {script}")
    for number, row in enumerate(rows):
        values = dict(zip(header, row, strict=True))
        name = values["description"]
        with open(log_format.replace("@", name).replace("$", script).replace("%", str(number)), "w") as log:
            log.write(f"job {name}: {values}\n")
        kind = behaviour.get(name)
        if kind == "missing":
            continue
        if kind == "garbage":
            with open(f"{name}.npy", "wb") as out:
                out.write(b"not a pickle")
            continue
        contact = np.array([[float(values[k]) for k in ("E", "v", "kr", "eta", "mu")]])
        strain = STRAIN[:100] if kind == "short" else STRAIN
        _, out = triaxial_response(contact, float(values["conf"]) / 1e6, "drained", strain)
        e, p, q, f0, a_c, a_n, a_t = out[0].T.astype(np.float64)
        params = {k: float(values[k]) for k in ("E", "v", "kr", "eta", "mu")}
        params.update(conf=float(np.log10(float(values["conf"]))), mode="drained", num=1000)
        features = {"e_x": list(-strain / 2), "e_y": list(-strain / 2), "e_z": list(strain), "e": list(e),
                    "p": list(p * 1e6), "q": list(q * 1e6), "f0": list(f0), "a_c": list(a_c), "a_n": list(a_n),
                    "a_t": list(a_t)}
        np.save(f"{name}.npy", np.array((params, features), dtype=object), allow_pickle=True)
        if behaviour.get("hang"):
            child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
            with open("hang.pid", "w") as pid:
                pid.write(str(child.pid))
            child.wait()
            time.sleep(60)
    return int(behaviour.get("exit", 0))


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
