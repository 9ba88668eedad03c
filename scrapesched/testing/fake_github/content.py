"""Realistic content for the fake GitHub's seeded data: logins, labels, titles, comment texts, Trillian
environments and tests, and random Codecov and Trillian result specs drawn from them.

Pure functions of a ``random.Random``: the same seed gives the same content.
"""

from __future__ import annotations

import random
from dataclasses import replace

from scrapesched.testing.fake_github.comments import CodecovSpec, TestOutcome, TrillianResultSpec, TrillianTestRow
from scrapesched.testing.fake_github.model import PullRequest, random_sha

HUMANS = ("alice-dev", "bob-ops", "carol-qa", "dmitri-k", "erin-w", "farah-n", "gustavo-r", "hana-s")
LABELS = (
    "type:bug",
    "type:enhancement",
    "component:kvm",
    "component:network",
    "component:ui",
    "Severity:Major",
    "Severity:Minor",
    "status:needs-review",
    "status:ready-to-merge",
    "do-not-merge",
    "dependencies",
    "documentation",
)
TITLE_VERBS = ("Fix", "Add", "Improve", "Refactor", "Remove", "Allow", "Validate")
TITLE_SUBJECTS = (
    "volume snapshot listing",
    "VM migration with local storage",
    "KVM host HA checks",
    "network ACL rule ordering",
    "pagination in the instances view",
    "systemvm template registration",
    "Kubernetes cluster scaling",
    "user data on CPVM",
    "usage records for backups",
)
HUMAN_COMMENTS = (
    "Thanks for the PR! Could you add a unit test for this path?",
    "Rebased on main and fixed the conflicts.",
    "Can you squash the commits before we merge?",
    "The integration failure looks unrelated, re-running.",
    "Does this also need a change in the upgrade path?",
    "I tested this manually on a KVM zone, works as expected.",
    "Please update the description with the steps to reproduce.",
    "ping, any update on this one?",
    "Moved to the next milestone.",
    "Nit: the log message could include the volume id.\n\nOtherwise fine by me.",
    "Not LGTM yet: the upgrade path still drops the old column.",
    "> LGTM\n\nI disagree with the approval above, please wait for the KVM run.",
    "Is this LGTM? I only read the diff.",
)
LGTM_COMMENTS = (
    "LGTM",
    "lgtm",
    "LGTM, thanks!",
    "Code LGTM :+1:",
    "LGTM with the nit addressed",
    "tested, LGTM",
    "Thanks for the fix.\r\n\r\n/lgtm",
)
REVIEW_BODIES = ("", "", "Looks good to me.", "A couple of small comments inline.", "Please handle the null case.")
ENVIRONMENTS = (
    ("kvm-ol8", "ol8"),
    ("kvm-ol9", "ol9"),
    ("kvm-centos7", "7"),
    ("kvm-ubuntu22", "ol8"),
    ("xenserver-71", "7"),
    ("xenserver-84", "ol8"),
    ("vmware-70u3", "a9"),
    ("vmware-80u1", "ol8"),
    ("vmware-67u3", "7"),
)
TEST_POOL = (
    ("test_03_deploy_and_scale_kubernetes_cluster", "test_kubernetes_clusters.py"),
    ("ContextSuite context=TestKubernetesCluster>:teardown", "test_kubernetes_clusters.py"),
    ("test_2_userdata_on_cpvm", "test_systemvm_userdata.py"),
    ("test_01_migrate_VM_and_root_volume", "test_vm_life_cycle.py"),
    ("test_11_migrate_vm", "test_vm_life_cycle.py"),
    ("test_hostha_kvm_host_degraded", "test_hostha_kvm.py"),
    ("test_nic_secondaryip_add_remove", "test_multipleips_per_nic.py"),
    ("test_02_list_snapshots_with_removed_data_store", "test_snapshots.py"),
    ("test_04_rvpc_network_garbage_collector_nics", "test_vpc_redundant.py"),
    ("test_01_cancel_host_maintenace_with_no_migration_jobs", "test_host_maintenance.py"),
    ("test_00_deploy_vm_root_resize", "test_deploy_vm_root_resize.py"),
    ("test_01_create_template_from_snapshot", "test_templates.py"),
)
MUTATIONS = (
    "new_pr",
    "comment",
    "lgtm",
    "edit_comment",
    "add_label",
    "remove_label",
    "review",
    "dismiss",
    "merge",
    "close",
    "reopen",
    "ready",
    "codecov",
    "trillian",
    "assign",
)


def random_rows(rng: random.Random) -> tuple[TrillianTestRow, ...]:
    if rng.random() < 0.45:
        return ()
    outcomes: tuple[TestOutcome, ...] = ("Failure", "Error", "Skipped")
    rows = [
        TrillianTestRow(name, rng.choices(outcomes, weights=(4, 4, 2))[0], round(rng.uniform(1, 4000), 2), file)
        for name, file in rng.sample(TEST_POOL, rng.randint(1, 4))
    ]
    if rng.random() < 0.05:
        rows.append(rows[0])  # the bot sometimes prints a row twice
    return tuple(rows)


def random_trillian(
    rng: random.Random,
    pr_number: int,
    test_id: int,
    environment: tuple[str, str] | None = None,
    duration: int | None = None,
) -> TrillianResultSpec:
    env, mgmt = environment or rng.choice(ENVIRONMENTS)
    rows = random_rows(rng)
    failed = len({r.name for r in rows if r.result != "Skipped"})
    if failed and rng.random() < 0.15:
        failed -= 1  # real summaries sometimes disagree with the table
    return TrillianResultSpec(
        test_id=test_id,
        pr_number=pr_number,
        environment=env,
        passed=rng.randint(80, 150),
        failed=failed,
        skipped=len({r.name for r in rows if r.result == "Skipped"}),
        duration_seconds=duration if duration is not None else rng.randint(20000, 90000),
        rows=rows,
        logs_available=rng.random() > 0.12,
        zone=rng.choice(("Advanced", None)),
        mgmt_server=mgmt,
        crlf=rng.random() < 0.3,
    )


def random_codecov(rng: random.Random, repo: str, pr: PullRequest, previous: CodecovSpec | None) -> CodecovSpec:
    patch = None if rng.random() < 0.15 else rng.choice((100.0, round(rng.uniform(0, 100), 2)))
    spec = CodecovSpec(
        repo=repo,
        pr_number=pr.number,
        project_coverage=round(rng.uniform(40, 95), 2),
        coverage_change=round(rng.uniform(-2.5, 2.5), 2),
        patch_coverage=patch,
        base_sha=random_sha(rng),
        head_sha=pr.head_sha,
        base_ref=pr.base_ref,
        missing_lines=0 if patch is None or patch >= 100 else rng.randint(1, 60),
        commits_behind=rng.choice((0, 0, rng.randint(1, 300))),
        files=rng.randint(50, 900),
        lines=rng.randint(5000, 90000),
        fmt=rng.choices(("2025", "2024", "2020"), weights=(7, 2, 1))[0],
        crlf=rng.random() < 0.3,
    )
    return replace(spec, fmt=previous.fmt) if previous else spec

