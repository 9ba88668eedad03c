"""Tests for scrapers.parsers.trillian: real fixtures, CRLF copies and synthetic shapes."""

from __future__ import annotations

from pathlib import Path

import pytest

from scrapesched.scrapers.parsers.trillian import (
    TrillianReport,
    TrillianTest,
    parse_trillian,
    split_environment,
)

FIXTURES = Path(__file__).resolve().parent / "fixtures" / "trillian"
LOGS = "https://github.com/blueorangutan/acs-prs/releases/download/trillian/"


def load(name: str) -> str:
    return (FIXTURES / name).read_text(encoding="utf-8")


def parse_fixture(name: str) -> TrillianReport:
    report = parse_trillian(load(name))
    assert report is not None
    return report


ALL_FIXTURES = sorted(path.name for path in FIXTURES.glob("*.md"))


def make_body(
    *,
    header: str = "<b>[SF] Trillian test result (tid-100)</b>",
    environment: str = "Environment: kvm-ol8 (x2), zone: Advanced Networking with Mgmt server ol8",
    counts: str = "Smoke tests completed. 10 look OK, 2 have errors, 0 did not run",
    rows: tuple[str, ...] = (),
    table: bool = True,
) -> str:
    lines = [
        header,
        environment,
        "Total time taken: 1234 seconds",
        "Marvin logs: https://example.org/logs.zip",
        counts,
    ]
    if table:
        lines += [
            "Only failed and skipped tests results shown below:",
            "",
            "Test | Result | Time (s) | Test File",
            "--- | --- | --- | ---",
            *rows,
        ]
    return "\n".join(lines) + "\n"


# --- real fixtures -------------------------------------------------------------------------


def test_fixtures_directory_is_found() -> None:
    assert len(ALL_FIXTURES) >= 13


def test_2016_format_without_table_has_counts_and_no_tests() -> None:
    report = parse_fixture("01-pr1692-tid138-xenserver-65sp1.md")
    assert report == TrillianReport(
        test_id="138",
        environment="xenserver-65sp1",
        hypervisor="xenserver",
        version="65sp1",
        zone="Advanced Networking",
        management_server="7",
        passed=41,
        failed=2,
        skipped=None,
        duration_seconds=27408,
        logs_url=LOGS + "pr1692-t138-xenserver-65sp1.zip",
        tests=(),
        truncated=False,
        parse_error=None,
    )


def test_2018_format_with_intermittent_lines_reads_five_rows_in_order() -> None:
    report = parse_fixture("08-pr2848-tid3199-vmware-65-intermittent.md")
    assert report.test_id == "3199"
    assert (report.environment, report.hypervisor, report.version) == ("vmware-65", "vmware", "65")
    assert report.management_server == "7"
    assert (report.passed, report.failed, report.skipped) == (65, 5, None)
    assert report.duration_seconds == 38643
    assert report.logs_url == LOGS + "pr2848-t3199-vmware-65.zip"
    assert report.tests == (
        TrillianTest("test_00_deploy_vm_root_resize", "test_deploy_vm_root_resize.py", "Failure", 286.39),
        TrillianTest("test_nic_secondaryip_add_remove", "test_multipleips_per_nic.py", "Error", 91.38),
        TrillianTest("test_02_list_snapshots_with_removed_data_store", "test_snapshots.py", "Error", 70.17),
        TrillianTest("test_11_migrate_vm", "test_vm_life_cycle.py", "Error", 33.91),
        TrillianTest(
            "test_04_rvpc_network_garbage_collector_nics", "test_vpc_redundant.py", "Failure", 616.21
        ),
    )
    assert report.truncated is False
    assert report.parse_error is None


def test_all_passed_header_only_table_is_complete_not_truncated() -> None:
    report = parse_fixture("09-pr3839-tid1242-kvm-centos7-allpass.md")
    assert report.test_id == "1242"
    assert (report.hypervisor, report.version) == ("kvm", "centos7")
    assert (report.passed, report.failed, report.skipped) == (83, 0, None)
    assert report.duration_seconds == 44040
    assert report.logs_url == LOGS + "pr3839-t1242-kvm-centos7.zip"
    assert report.tests == ()
    assert report.truncated is False
    assert report.parse_error is None


def test_pseudo_test_teardown_row_and_errors_without_s() -> None:
    report = parse_fixture("12-pr5470-tid2272-xenserver-71.md")
    assert report.test_id == "2272"
    assert (report.environment, report.hypervisor, report.version) == ("xenserver-71", "xenserver", "71")
    assert (report.passed, report.failed, report.skipped) == (88, 2, None)
    assert report.duration_seconds == 37956
    assert report.tests == (
        TrillianTest(
            "ContextSuite context=TestKubernetesCluster>:teardown",
            "test_kubernetes_clusters.py",
            "Error",
            92.27,
        ),
        TrillianTest(
            "test_01_cancel_host_maintenace_with_no_migration_jobs",
            "test_host_maintenance.py",
            "Error",
            1017.28,
        ),
    )
    assert report.truncated is False
    assert report.parse_error is None


def test_first_format_with_did_not_run_count() -> None:
    report = parse_fixture("18-pr5797-tid5958-kvm-centos7.md")
    assert report.test_id == "5958"
    assert (report.passed, report.failed, report.skipped) == (106, 1, 0)
    assert report.duration_seconds == 51257
    assert report.logs_url == LOGS + "pr5797-t5958-kvm-centos7.zip"
    assert report.tests == (
        TrillianTest("test_disable_oobm_ha_state_ineligible", "test_hostha_kvm.py", "Error", 1513.09),
        TrillianTest("test_hostha_kvm_host_degraded", "test_hostha_kvm.py", "Error", 7.25),
    )
    assert report.truncated is False
    assert report.parse_error is None


def test_sf_prefix_all_passed() -> None:
    report = parse_fixture("20-pr7345-tid6986-xenserver-71-allpass.md")
    assert report.test_id == "6986"
    assert (report.hypervisor, report.version, report.management_server) == ("xenserver", "71", "7")
    assert report.zone == "Advanced Networking"
    assert (report.passed, report.failed, report.skipped) == (108, 0, 0)
    assert report.duration_seconds == 42418
    assert report.logs_url == LOGS + "pr7345-t6986-xenserver-71.zip"
    assert report.tests == ()
    assert report.truncated is False
    assert report.parse_error is None


def test_more_rows_than_the_error_count_keeps_every_row() -> None:
    report = parse_fixture("23-pr7344-tid7298-kvm-centos7.md")
    assert report.test_id == "7298"
    assert (report.passed, report.failed, report.skipped) == (112, 1, 0)
    assert report.duration_seconds == 43382
    assert report.tests == (
        TrillianTest("test_01_migrate_VM_and_root_volume", "test_vm_life_cycle.py", "Error", 79.91),
        TrillianTest("test_02_migrate_VM_with_two_data_disks", "test_vm_life_cycle.py", "Error", 54.46),
    )
    assert report.truncated is False
    assert report.parse_error is None


def test_marvin_logs_without_url_gives_none_and_mgmt_server_a9() -> None:
    report = parse_fixture("28-pr9317-tid10798-vmware-70u3-no-archive.md")
    assert report.test_id == "10798"
    assert (report.environment, report.hypervisor, report.version) == ("vmware-70u3", "vmware", "70u3")
    assert report.management_server == "a9"
    assert report.zone == "Advanced Networking"
    assert (report.passed, report.failed, report.skipped) == (109, 1, 0)
    assert report.duration_seconds == 172398
    assert report.logs_url is None
    assert [t.test_name for t in report.tests] == [
        "test_01_invalid_upgrade_kubernetes_cluster",
        "test_03_deploy_and_scale_kubernetes_cluster",
        "test_04_autoscale_kubernetes_cluster",
        "test_05_basic_lifecycle_kubernetes_cluster",
        "test_06_delete_kubernetes_cluster",
        "test_08_upgrade_kubernetes_ha_cluster",
    ]
    assert {t.result for t in report.tests} == {"Failure"}
    assert {t.test_file for t in report.tests} == {"test_kubernetes_clusters.py"}
    assert report.tests[0].time_seconds == 3661.54
    assert report.tests[-1].time_seconds == 3689.52
    assert report.truncated is False
    assert report.parse_error is None


def test_current_format_tid15010_kvm_ol8_with_zone() -> None:
    report = parse_fixture("34-pr12198-tid15010-kvm-ol8-zone.md")
    assert report == TrillianReport(
        test_id="15010",
        environment="kvm-ol8",
        hypervisor="kvm",
        version="ol8",
        zone="Advanced Networking",
        management_server="ol8",
        passed=148,
        failed=2,
        skipped=0,
        duration_seconds=56063,
        logs_url=LOGS + "pr12198-t15010-kvm-ol8.zip",
        tests=(
            TrillianTest(
                "test_03_deploy_and_scale_kubernetes_cluster", "test_kubernetes_clusters.py", "Failure", 28.87
            ),
            TrillianTest("test_2_userdata_on_cpvm", "test_systemvm_userdata.py", "Error", 3.32),
        ),
        truncated=False,
        parse_error=None,
    )


def test_human_copy_with_checklist_instead_of_table_is_flagged_not_crashing() -> None:
    report = parse_fixture("human-01-issue14102-description-quotes-bot-truncated.md")
    assert report.test_id == "16920"
    assert (report.hypervisor, report.version, report.management_server) == ("kvm", "ol8", "ol8")
    assert report.zone == "Advanced_with_Security_Groups Networking"
    assert (report.passed, report.failed, report.skipped) == (89, 60, 0)
    assert report.duration_seconds == 84581
    assert report.tests == ()
    assert report.truncated is True  # 60 failures announced, none listed: unknown, not "none"
    assert report.parse_error is not None
    assert "table" in report.parse_error


@pytest.mark.parametrize(
    "name",
    [
        "other-01-pr3732-kick-trillian.md",
        "packaging-02-pr3839-jid1051-unicode.md",
        "packaging-05-pr6995-sljid4963-mixed-fail.md",
    ],
)
def test_kick_notices_and_packaging_results_are_not_test_results(name: str) -> None:
    assert parse_trillian(load(name)) is None


@pytest.mark.parametrize("name", ALL_FIXTURES)
def test_crlf_copy_of_each_fixture_parses_the_same(name: str) -> None:
    text = load(name)
    assert parse_trillian(text.replace("\n", "\r\n")) == parse_trillian(text)


# --- environment line ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("environment", "expected"),
    [
        ("kvm-ol8", ("kvm", "ol8")),
        ("xenserver-65sp1", ("xenserver", "65sp1")),
        ("vmware-70u3", ("vmware", "70u3")),
        ("XCP-ng-8.2", ("XCP", "ng-8.2")),
        ("KVM-Ubuntu22", ("KVM", "Ubuntu22")),
    ],
)
def test_environment_splits_at_first_dash_and_keeps_case(
    environment: str, expected: tuple[str, str]
) -> None:
    assert split_environment(environment) == expected


def test_environment_without_dash_splits_where_digits_begin() -> None:
    assert split_environment("xenserver71") == ("xenserver", "71")
    report = parse_trillian(make_body(environment="Environment: xenserver71 (x2), Advanced Networking"))
    assert report is not None
    assert (report.environment, report.hypervisor, report.version) == ("xenserver71", "xenserver", "71")


def test_environment_without_dash_or_digits_is_all_hypervisor() -> None:
    report = parse_trillian(
        make_body(environment="Environment: simulator (x1), Advanced Networking with Mgmt server 7")
    )
    assert report is not None
    assert (report.environment, report.hypervisor, report.version) == ("simulator", "simulator", None)
    assert report.management_server == "7"


def test_other_hypervisor_name_with_dash() -> None:
    report = parse_trillian(
        make_body(environment="Environment: hyperv-2019 (x2), zone: Basic Networking with Mgmt server el9")
    )
    assert report is not None
    assert (report.hypervisor, report.version, report.zone, report.management_server) == (
        "hyperv",
        "2019",
        "Basic Networking",
        "el9",
    )


def test_environment_without_zone_or_count_gives_zone_none() -> None:
    report = parse_trillian(make_body(environment="Environment: kvm-ubuntu22 with Mgmt server ubuntu22"))
    assert report is not None
    assert report.environment == "kvm-ubuntu22"
    assert report.zone is None
    assert report.management_server == "ubuntu22"


def test_environment_without_mgmt_server_gives_none() -> None:
    report = parse_trillian(make_body(environment="Environment: kvm-ol8 (x2), zone: Advanced Networking"))
    assert report is not None
    assert report.zone == "Advanced Networking"
    assert report.management_server is None


def test_missing_environment_line_is_a_parse_error_with_other_fields_read() -> None:
    body = make_body(rows=("test_a | `Error` | 1.5 | test_a.py",)).replace(
        "Environment: kvm-ol8 (x2), zone: Advanced Networking with Mgmt server ol8\n", ""
    )
    report = parse_trillian(body)
    assert report is not None
    assert report.environment is None and report.hypervisor is None
    assert report.parse_error is not None and "Environment" in report.parse_error
    assert report.passed == 10
    assert len(report.tests) == 1


# --- header --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "header",
    [
        "<b>Trillian test result (tid-100)</b>",
        "<b>[SF] Trillian test result (tid-100)</b>",
        "<b>[SF] [4.20] Trillian test result (tid-100)</b>",
        "[XYZ] Trillian test result (tid-100)",
        "Trillian test result (tid-100)",
    ],
)
def test_header_with_or_without_bold_and_bracketed_prefixes(header: str) -> None:
    report = parse_trillian(make_body(header=header))
    assert report is not None
    assert report.test_id == "100"


def test_quoted_header_is_not_a_result() -> None:
    body = "\n".join("> " + line for line in make_body().splitlines())
    assert parse_trillian(body) is None


@pytest.mark.parametrize(
    "body",
    [
        "",
        "   \n\n",
        "@blueorangutan test",
        "@DaanHoogland a [SF] Trillian-Jenkins test job (ol8 mgmt + kvm-ol8) has been kicked "
        "to run smoke tests",
        "Packaging result [SF]: ✔️ el8 ✔️ el9 ✖️ debian ✔️ suse15. SL-JID 12345",
        "The Trillian test result was bad yesterday.",
    ],
)
def test_non_result_text_gives_none(body: str) -> None:
    assert parse_trillian(body) is None


def test_header_only_body_is_truncated_with_parse_error() -> None:
    report = parse_trillian("<b>[SF] Trillian test result (tid-7)</b>\n")
    assert report is not None
    assert report.test_id == "7"
    assert report.truncated is True
    assert report.parse_error is not None
    assert report.passed is None and report.failed is None


# --- counts --------------------------------------------------------------------------------


def test_old_test_completed_wording_with_look_ok_lowercase() -> None:
    report = parse_trillian(make_body(counts="Test completed. 41 look ok, 2 have error(s)", table=False))
    assert report is not None
    assert (report.passed, report.failed, report.skipped) == (41, 2, None)
    assert report.tests == ()
    assert report.truncated is False
    assert report.parse_error is None


def test_skipped_count_is_read() -> None:
    report = parse_trillian(
        make_body(
            counts="Smoke tests completed. 10 look OK, 0 have errors, 3 did not run",
            rows=(
                "test_a | `Skipped` | 0.00 | test_a.py",
                "test_b | `Skipped` | 0.00 | test_a.py",
                "test_c | `Skipped` | 0.00 | test_c.py",
            ),
        )
    )
    assert report is not None
    assert (report.passed, report.failed, report.skipped) == (10, 0, 3)
    assert [t.result for t in report.tests] == ["Skipped"] * 3
    assert report.truncated is False


def test_counts_disagreeing_with_table_keep_both_as_printed() -> None:
    report = parse_trillian(
        make_body(
            counts="Smoke tests completed. 10 look OK, 5 have errors, 0 did not run",
            rows=("test_a | `Error` | 1.0 | test_a.py",),
        )
    )
    assert report is not None
    assert report.failed == 5
    assert len(report.tests) == 1
    assert report.truncated is False  # the last row is complete: no evidence of a cut
    assert report.parse_error is None


def test_missing_counts_line_is_truncated_with_parse_error() -> None:
    report = parse_trillian(make_body(counts="", rows=("test_a | `Error` | 1.0 | test_a.py",)))
    assert report is not None
    assert report.passed is None and report.failed is None
    assert report.truncated is True
    assert report.parse_error is not None and "counts" in report.parse_error
    assert len(report.tests) == 1


# --- table ---------------------------------------------------------------------------------


def test_header_only_table_with_failures_is_truncated_not_no_failures() -> None:
    report = parse_trillian(make_body(rows=()))
    assert report is not None
    assert report.failed == 2
    assert report.tests == ()
    assert report.truncated is True
    assert report.parse_error is None


def test_body_cut_after_shown_below_line_is_truncated() -> None:
    body = make_body().split("\n\nTest | Result")[0] + "\n"
    assert body.rstrip().endswith("shown below:")
    report = parse_trillian(body)
    assert report is not None
    assert report.truncated is True
    assert report.parse_error is None


def test_body_cut_after_smoke_counts_line_is_truncated() -> None:
    report = parse_trillian(make_body(table=False))
    assert report is not None
    assert report.failed == 2
    assert report.truncated is True


def test_duplicated_rows_collapse_keeping_the_last() -> None:
    report = parse_trillian(
        make_body(
            rows=(
                "test_a | `Error` | 1.0 | test_a.py",
                "test_b | `Failure` | 2.0 | test_b.py",
                "test_a | `Error` | 3.0 | test_a.py",
                "test_a | `Failure` | 4.0 | test_a.py",
                "test_a | `Error` | 5.0 | other.py",
            )
        )
    )
    assert report is not None
    assert report.tests == (
        TrillianTest("test_b", "test_b.py", "Failure", 2.0),
        TrillianTest("test_a", "test_a.py", "Error", 3.0),
        TrillianTest("test_a", "test_a.py", "Failure", 4.0),
        TrillianTest("test_a", "other.py", "Error", 5.0),
    )


def test_skipped_row_result_is_normalised() -> None:
    report = parse_trillian(
        make_body(rows=("test_a | `skipped` | 0.0 | test_a.py", "test_b | ERROR | 1 | b.py"))
    )
    assert report is not None
    assert [t.result for t in report.tests] == ["Skipped", "Error"]


def test_row_with_missing_time_gives_none() -> None:
    report = parse_trillian(
        make_body(rows=("test_a | `Error` |  | test_a.py", "test_b | `Failure` | N/A | test_b.py"))
    )
    assert report is not None
    assert [t.time_seconds for t in report.tests] == [None, None]
    assert [t.test_file for t in report.tests] == ["test_a.py", "test_b.py"]
    assert report.parse_error is None


def test_rows_without_file_column_give_empty_file() -> None:
    body = make_body().replace("Test | Result | Time (s) | Test File\n--- | --- | --- | ---\n", "")
    body += "Test | Result | Time (s)\n--- | --- | ---\ntest_a | `Error` | 1.25\ntest_b | `Failure` | 2\n"
    report = parse_trillian(body)
    assert report is not None
    assert report.tests == (
        TrillianTest("test_a", "", "Error", 1.25),
        TrillianTest("test_b", "", "Failure", 2.0),
    )
    assert report.truncated is False


def test_rows_with_outer_pipes_are_read() -> None:
    body = make_body().replace(
        "Test | Result | Time (s) | Test File", "| Test | Result | Time (s) | Test File |"
    )
    body += "| test_a | `Error` | 1.5 | test_a.py |\n"
    report = parse_trillian(body)
    assert report is not None
    assert report.tests == (TrillianTest("test_a", "test_a.py", "Error", 1.5),)


def test_last_row_cut_mid_word_marks_truncated_and_keeps_complete_rows() -> None:
    report = parse_trillian(
        make_body(rows=("test_a | `Error` | 1.5 | test_a.py", "test_b | `Failu")).rstrip("\n")
    )
    assert report is not None
    assert report.tests == (TrillianTest("test_a", "test_a.py", "Error", 1.5),)
    assert report.truncated is True
    assert report.parse_error is None


def test_last_row_cut_before_first_pipe_marks_truncated() -> None:
    report = parse_trillian(make_body(rows=("test_a | `Error` | 1.5 | test_a.py", "test_b_lo")).rstrip("\n"))
    assert report is not None
    assert len(report.tests) == 1
    assert report.truncated is True


def test_last_row_missing_cells_that_others_have_is_dropped_and_marks_truncated() -> None:
    report = parse_trillian(
        make_body(rows=("test_a | `Error` | 1.5 | test_a.py", "test_b | `Failure` | 2")).rstrip("\n")
    )
    assert report is not None
    assert report.tests == (TrillianTest("test_a", "test_a.py", "Error", 1.5),)
    assert report.truncated is True


def test_unreadable_row_in_middle_is_a_parse_error_not_truncation() -> None:
    report = parse_trillian(
        make_body(
            rows=(
                "test_a | `Error` | 1.5 | test_a.py",
                "garbage without pipes",
                "test_c | `Failure` | 2.5 | test_c.py",
            )
        )
    )
    assert report is not None
    assert [t.test_name for t in report.tests] == ["test_a", "test_c"]
    assert report.truncated is False
    assert report.parse_error is not None


def test_unknown_result_word_drops_row_with_parse_error() -> None:
    report = parse_trillian(
        make_body(rows=("test_a | `Exploded` | 1.5 | test_a.py", "test_b | `Error` | 2.5 | b.py"))
    )
    assert report is not None
    assert [t.test_name for t in report.tests] == ["test_b"]
    assert report.parse_error is not None and "Exploded" in report.parse_error


def test_text_after_table_ends_the_table() -> None:
    body = make_body(rows=("test_a | `Error` | 1.5 | test_a.py",)) + "\nSee the logs for details | thanks\n"
    report = parse_trillian(body)
    assert report is not None
    assert len(report.tests) == 1
    assert report.parse_error is None
    assert report.truncated is False


def test_marvin_logs_as_markdown_link_gives_url() -> None:
    body = make_body().replace(
        "Marvin logs: https://example.org/logs.zip", "Marvin logs: [pr1-t1.zip](https://example.org/pr1-t1.zip)"
    )
    report = parse_trillian(body)
    assert report is not None
    assert report.logs_url == "https://example.org/pr1-t1.zip"


@pytest.mark.parametrize(
    "body",
    [
        "<b>Trillian test result (tid-1)</b>\nEnvironment:\nTotal time taken: lots\nMarvin logs:\n",
        "<b>Trillian test result (tid-)</b>\n| | |\n|||\nTest | Result\n---|---\n|\n||\n`",
        "<b>Trillian test result (tid-1)</b>\n99999999999999999999999 look OK, x have errors",
        "Trillian test result\r\rEnvironment: -\r",
    ],
)
def test_garbage_after_header_never_raises(body: str) -> None:
    report = parse_trillian(body)
    assert report is not None
    assert isinstance(report.truncated, bool)


def test_report_is_frozen() -> None:
    report = parse_fixture("34-pr12198-tid15010-kvm-ol8-zone.md")
    with pytest.raises(AttributeError):
        report.passed = 1  # type: ignore[misc]


def test_last_row_with_cut_result_that_is_a_valid_word_is_dropped_when_cells_missing() -> None:
    report = parse_trillian(
        make_body(rows=("test_a | `Error` | 1.5 | test_a.py", "test_b | `Fail")).rstrip("\n")
    )
    assert report is not None
    assert [t.test_name for t in report.tests] == ["test_a"]
    assert report.truncated is True


def test_short_last_row_when_no_row_has_more_cells_is_kept() -> None:
    report = parse_trillian(make_body(rows=("test_a | `Error` | 1.5",)))
    assert report is not None
    assert report.tests == (TrillianTest("test_a", "", "Error", 1.5),)
    assert report.truncated is False
