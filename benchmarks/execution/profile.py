"""py-spy's samples of a worker during the burst, summed by where the time went (optional: ``--profile``)."""

from __future__ import annotations

import shutil
from pathlib import Path

from execution.common import PYTHON

# --- profile (optional) ----------------------------------------------------------------------------------


def _py_spy() -> str | None:
    candidate = Path(PYTHON).parent / "py-spy"
    return str(candidate) if candidate.exists() else shutil.which("py-spy")


# Where a sampled stack spends its time: (label, substrings of which any frame of the stack must contain).
PROFILE_CENTRES = (
    ("inside a job (rq Job.perform)", ("Job.perform (rq/job.py",)),
    ("  refund_execute", ("refund_execute (payments/services.py",)),
    ("    channel adapters built (get_channel)", ("get_channel (payments/channels/registry.py",)),
    (
        "      RSA private keys parsed",
        ("import_key (Cryptodome/PublicKey/RSA.py", "load_private_key (wechatpayv3/utils.py"),
    ),
    ("    trade registered with the simulator", ("_introduce_trade_to_simulator (payments/services.py",)),
    ("    channel refund call", ("AlipayChannel.refund (payments/", "WechatChannel.refund (payments/")),
    ("    refund_mark_refunded", ("refund_mark_refunded (refunds/flow.py",)),
    ("  follow-up job", ("refund_follow_up (payments/jobs.py",)),
    ("    voucher PDF", ("issue_voucher (payments/vouchers.py",)),
    ("    notify customer", ("customer_notify (notices/services.py",)),
    ("    restock", ("restock_unshipped (refunds/restock.py",)),
    ("modules imported", ("_find_and_load (<frozen importlib._bootstrap>",)),
    ("SQL through the ORM", ("execute_sql (django/db/models/sql/compiler.py",)),
    ("Redis commands (RQ and app)", ("(redis/client.py",)),
    ("HTTP (requests)", ("(requests/sessions.py",)),
    ("fork of a work horse (rq)", ("Worker.fork_work_horse (rq/",)),
)


def _profile_summary(raw: Path) -> list[str]:
    """Collapsed stacks -> the share of samples (not idle) spent in each of PROFILE_CENTRES, inclusive."""
    shares = dict.fromkeys((label for label, _ in PROFILE_CENTRES), 0)
    total = 0
    for line in raw.read_text(errors="replace").splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        total += int(count_text)
        for label, needles in PROFILE_CENTRES:
            if any(needle in stack for needle in needles):
                shares[label] += int(count_text)
    if not total:
        return ["(no samples)"]
    lines = [f"{total} samples of the worker and its work horses; share of them spent in (inclusive):"]
    lines.extend(f"  {100 * count / total:5.1f}%  {label}" for label, count in shares.items())
    return lines
