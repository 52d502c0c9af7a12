"""`--plot FILE.png|svg`: activation and weight-gradient std per weight layer, log scale
(matplotlib, the `plot` extra)."""

from __future__ import annotations

import importlib.util

from initlint.probe.verdicts import finite, label

FORMATS = (".png", ".svg")


def available() -> bool:
    try:
        return importlib.util.find_spec("matplotlib") is not None
    except (ImportError, ValueError):
        return False


def _series(layers):
    rows, seen = [], set()
    for r in layers:
        if r["weight"] and r["name"] not in seen:
            seen.add(r["name"])
            rows.append(r)
    return rows


def _points(rows, key):
    xs, ys = [], []
    for i, r in enumerate(rows):
        v = r.get(key)
        if finite(v) and v > 0:
            xs.append(i)
            ys.append(v)
    return xs, ys


def plot(path: str, target: str, res: dict, verdicts: list) -> None:
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    rows = _series(res["layers"])
    after = (res.get("lsuv") or {}).get("after")
    rows_after = _series(after["layers"]) if after else []
    fig, (ax1, ax2) = plt.subplots(2, 1, sharex=True, figsize=(max(6.0, min(14.0, 0.35 * len(rows) + 4)), 6.2))
    for ax, key, title in ((ax1, "out_std", "output std per weight layer"),
                           (ax2, "grad_std", "weight-gradient std per weight layer")):
        xs, ys = _points(rows, key)
        ax.plot(xs, ys, marker="o", ms=3.5, lw=1.6, color="#c0392b" if verdicts else "#2471a3",
                label="as initialized")
        if rows_after:
            xa, ya = _points(rows_after, key)
            ax.plot(xa, ya, marker="s", ms=3, lw=1.2, ls="--", color="#27ae60",
                    label="after LSUV scaling")
        ax.set_yscale("log")
        ax.set_title(title, fontsize=10, loc="left")
        ax.grid(True, which="both", alpha=0.25)
        if rows_after:
            ax.legend(fontsize=8, loc="best")
    step = max(1, len(rows) // 24)
    ax2.set_xticks(list(range(0, len(rows), step)))
    ax2.set_xticklabels([label(rows[i]["name"]) for i in range(0, len(rows), step)],
                        rotation=60, ha="right", fontsize=7)
    ax2.set_xlabel("weight layer (execution order)")
    status = ", ".join(sorted({v["kind"] for v in verdicts})) or "healthy"
    fig.suptitle(f"initlint probe {target}  [{status}]", fontsize=11)
    fig.tight_layout()
    fig.savefig(path, metadata={"Date": None} if path.lower().endswith(".svg") else None)
    plt.close(fig)
