"""Checks an exported locomamba policy against the outputs locomamba computed itself.

Usage: check_onnx.py POLICY.onnx FIXTURE.json

The fixture (written by `runner export --check`) holds, per control step, the graph's inputs and
the outputs locomamba computed for them. The model must pass `onnx.checker.check_model` with
`full_check=True`; then it runs in onnxruntime (CPU) step by step, every recurrent state output
fed back as the next step's input (zeros for an env whose episode starts), and every output is
compared with `|onnx - expected| <= atol + rtol * max|expected|`, the maximum over that output's
values at that step (so a small output, such as the raw action of a fresh policy, is held to
its own scale). The last line printed is a JSON
report; the exit status is 0 when everything is within tolerance, 1 otherwise, 2 when onnx or
onnxruntime is missing.
"""

import json
import sys


def main():
    try:
        import numpy as np
        import onnx
        import onnxruntime as ort
    except ImportError as e:
        print(f"missing Python package: {e.name} (pip install onnx onnxruntime)", file=sys.stderr)
        return 2
    model_path, fixture_path = sys.argv[1], sys.argv[2]
    model = onnx.load(model_path)
    onnx.checker.check_model(model, full_check=True)
    with open(fixture_path) as f:
        fixture = json.load(f)
    batch = fixture["batch"]
    atol, rtol = fixture["atol"], fixture["rtol"]
    session = ort.InferenceSession(model_path, providers=["CPUExecutionProvider"])
    shapes = {i.name: [batch if isinstance(d, str) else d for d in i.shape]
              for i in session.get_inputs()}
    names = [o.name for o in session.get_outputs()]
    state = [np.zeros([batch] + list(s), dtype=np.float32) for s in fixture["state_shapes"]]
    worst = {}
    failures = []
    for t, step in enumerate(fixture["steps"]):
        feeds = {name: np.asarray(v, dtype=np.float32).reshape(shapes[name])
                 for name, v in step["inputs"].items()}
        for k, name in enumerate(fixture["state_inputs"]):
            s = state[k]
            s[np.asarray(step["reset"], dtype=bool)] = 0.0
            feeds[name] = s
        missing = set(shapes) - set(feeds)
        if missing:
            print(f"step {t}: the model wants inputs {sorted(missing)} the fixture lacks")
            return 1
        results = dict(zip(names, session.run(names, feeds)))
        state = [results[name].copy() for name in fixture["state_outputs"]]
        for name, expected in step["expected"].items():
            got = results[name].reshape(-1).astype(np.float64)
            want = np.asarray(expected, dtype=np.float64)
            err = np.abs(got - want)
            worst[name] = max(worst.get(name, 0.0), float(err.max(initial=0.0)))
            bad = err > atol + rtol * float(np.abs(want).max(initial=0.0))
            if bad.any() and len(failures) < 10:
                i = int(np.argmax(bad))
                failures.append(f"step {t} {name}[{i}]: onnxruntime {got[i]:.6g}, "
                                f"locomamba {want[i]:.6g}")
    for name in sorted(worst):
        print(f"{name}: max |onnxruntime - locomamba| = {worst[name]:.3g}")
    for line in failures:
        print("mismatch:", line)
    report = {"steps": len(fixture["steps"]), "max_abs_error": worst, "passed": not failures}
    print(json.dumps(report))
    return 0 if not failures else 1


if __name__ == "__main__":
    sys.exit(main())
