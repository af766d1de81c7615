//! The vmq_host demo (`examples/vmq_host.rs`): every shipped scenario runs on QEMU's 82576
//! through the demo's own code, and its JSON report must show every frame indicated once on
//! its queue, no queue event off its processor, no contract violation and nothing leaked.
//! Scenarios the hardware or the topology cannot satisfy are refused with a clear error.

#[path = "../examples/demo/mod.rs"]
mod demo;

use std::collections::BTreeSet;

use demo::Scenario;
use demo::report::Report;
use serde_json::Value;

fn run(name: &str) -> (Scenario, Report, Value) {
    let path = demo::scenarios_dir().join(format!("{name}.toml"));
    let scenario = Scenario::load(&path).unwrap_or_else(|e| panic!("{e}"));
    let report = demo::run(&scenario, &mut |line| eprintln!("{line}"))
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let json: Value = serde_json::from_str(&report.json()).expect("the report is JSON");
    (scenario, report, json)
}

fn n(value: &Value) -> u64 {
    value.as_u64().unwrap_or_else(|| panic!("not a count: {value}"))
}

/// What every scenario must show, read from the JSON report.
fn common_checks(name: &str, scenario: &Scenario, report: &Report, json: &Value) {
    let text = report.text();
    assert!(report.passed, "{name}:\n{text}");
    assert!(text.contains("\nPASS: "), "{name}:\n{text}");
    assert_eq!(json["violations"], Value::Array(Vec::new()), "{name}: contract violations");
    assert_eq!(json["leaks"], Value::Array(Vec::new()), "{name}: leaks");
    assert_eq!(json["problems"], Value::Array(Vec::new()), "{name}: problems");

    // Every frame accounted for: indicated once, on its queue, byte for byte.
    let traffic = &json["traffic"];
    let per_vm = u64::from(scenario.traffic.frames_per_vm);
    let vms = scenario.vms.len() as u64;
    let sent =
        per_vm * vms + u64::from(scenario.traffic.unknown_unicast + scenario.traffic.broadcast);
    assert_eq!(n(&traffic["sent"]), sent, "{name}");
    assert_eq!(n(&traffic["delivered"]), sent, "{name}");
    assert_eq!(n(&traffic["indicated"]), sent, "{name}");
    for field in ["lost", "misrouted", "corrupted", "duplicated", "unexpected"] {
        assert_eq!(n(&traffic[field]), 0, "{name}: {field}");
    }
    let queues = json["queues"].as_array().expect("queues[]");
    let on_queues: u64 = queues.iter().map(|q| n(&q["frames"])).sum();
    assert_eq!(on_queues + n(&json["default_queue"]["frames"]), sent, "{name}");
    assert_eq!(
        n(&json["default_queue"]["frames"]),
        n(&json["default_queue"]["expected_frames"]),
        "{name}: default queue"
    );

    // Each queue: its VM's frames, on the processor its table entry's message targets.
    let targets = json["interrupt"]["granted"]["targets"].as_array().expect("targets[]");
    for queue in queues {
        assert_eq!(queue["frames"], per_vm, "{name}: {}", queue["vm"]);
        assert_eq!(n(&queue["mismatched_processor_events"]), 0, "{name}: {}", queue["vm"]);
        assert!(n(&queue["indications"]) > 0 && n(&queue["isrs"]) > 0, "{name}: {queue}");
        let target = targets
            .iter()
            .find(|t| t["message"] == queue["message"])
            .unwrap_or_else(|| panic!("{name}: the message of {queue} was granted"));
        assert_eq!(
            (&target["group"], &target["processor"]),
            (&queue["group"], &queue["processor"]),
            "{name}: {}",
            queue["vm"]
        );
        assert!(queue["pool"].as_u64().is_some_and(|p| (1..=7).contains(&p)), "{name}: {queue}");
    }
    let pools: BTreeSet<u64> = queues.iter().map(|q| n(&q["pool"])).collect();
    assert_eq!(pools.len(), queues.len(), "{name}: one pool per queue");

    // Requested: message 0 for other causes, then one per RSS processor in RSS order.
    let requested = json["interrupt"]["requested"].as_array().expect("requested[]");
    let rss = scenario.rss_processors();
    assert_eq!(requested.len(), rss.len() + 1, "{name}");
    assert_eq!(requested[0]["role"], "other", "{name}");
    let mut rx: Vec<(u64, u64)> = requested[1..]
        .iter()
        .map(|r| {
            assert_eq!(r["role"], "rx", "{name}");
            (n(&r["group"]), n(&r["processor"]))
        })
        .collect();
    rx.sort_unstable();
    let mut expected: Vec<(u64, u64)> =
        rss.iter().map(|p| (u64::from(p.group), u64::from(p.number))).collect();
    expected.sort_unstable();
    assert_eq!(rx, expected, "{name}: one receive message per RSS processor");

    // Every VM either has a queue or is reported on the default queue with the reason.
    for vm in json["vms"].as_array().expect("vms[]") {
        match vm["placement"].as_str() {
            Some("queue") => assert!(queues.iter().any(|q| q["vm"] == vm["name"]), "{vm}"),
            Some("default queue") => {
                assert!(vm["reason"].as_str().is_some_and(|r| r.contains("ALLOCATE_QUEUE")));
                let fallback = json["default_queue"]["fallback_vms"].as_array().unwrap();
                assert!(fallback.contains(&vm["name"]), "{name}: {vm}");
            }
            other => panic!("{name}: placement {other:?}"),
        }
        assert_eq!(n(&vm["frames_lost"]), 0, "{name}: {vm}");
    }
}

fn queue<'a>(json: &'a Value, vm: &str) -> &'a Value {
    json["queues"]
        .as_array()
        .and_then(|q| q.iter().find(|q| q["vm"] == vm))
        .unwrap_or_else(|| panic!("a queue for {vm}"))
}

#[test]
fn default_scenario_gives_every_vm_a_queue_on_its_processor() {
    let (scenario, report, json) = run("default");
    common_checks("default", &scenario, &report, &json);
    assert_eq!(json["interrupt"]["granted"]["kind"], "msix");
    assert_eq!(json["interrupt"]["granted"]["messages"], 5);
    assert_eq!(json["queues"].as_array().unwrap().len(), 3);
    for vm in &scenario.vms {
        let q = queue(&json, &vm.name);
        let asked = (u64::from(vm.processor.group), u64::from(vm.processor.number));
        assert_eq!((n(&q["group"]), n(&q["processor"])), asked, "{q}");
        assert_eq!(q["best_effort"], false);
    }
}

#[test]
fn messages_scenario_serves_one_queue_best_effort_and_the_rest_on_the_default_queue() {
    let (scenario, report, json) = run("messages");
    common_checks("messages", &scenario, &report, &json);
    assert_eq!(json["interrupt"]["granted"]["kind"], "msix");
    assert_eq!(json["interrupt"]["granted"]["messages"], 2);
    assert_eq!(json["vmq"]["queues_offered"], 1);
    let web = queue(&json, "web");
    assert_eq!(web["best_effort"], true, "0:1 has no message: the nearest one, 0:0, serves it");
    assert_eq!((n(&web["group"]), n(&web["processor"])), (0, 0));
    let fallback = json["default_queue"]["fallback_vms"].as_array().unwrap();
    assert_eq!(fallback, &["db", "app"]);
    // app's VLAN 200 reaches the default queue through its filter there.
    let app = json["vms"].as_array().unwrap().iter().find(|v| v["name"] == "app").unwrap();
    assert_eq!(app["vlan"], 200);
    assert!(app["default_queue_filter"].as_str().unwrap().ends_with(" set"), "{app}");
}

#[test]
fn msi_scenario_runs_without_vmq() {
    let (scenario, report, json) = run("msi");
    common_checks("msi", &scenario, &report, &json);
    assert_eq!(json["interrupt"]["granted"]["kind"], "msi");
    assert_eq!(json["interrupt"]["granted"]["messages"], 1);
    assert_eq!(json["vmq"]["enabled"], false);
    assert_eq!(json["queues"], Value::Array(Vec::new()));
}

#[test]
fn line_scenario_runs_without_vmq() {
    let (scenario, report, json) = run("line");
    common_checks("line", &scenario, &report, &json);
    assert_eq!(json["interrupt"]["granted"]["kind"], "line");
    assert_eq!(json["interrupt"]["granted"]["messages"], 0);
    assert_eq!(json["queues"], Value::Array(Vec::new()));
}

#[test]
fn rss_scenario_asks_only_for_the_rss_set() {
    let (scenario, report, json) = run("rss");
    common_checks("rss", &scenario, &report, &json);
    assert_eq!(json["interrupt"]["requested"].as_array().unwrap().len(), 4);
    assert_eq!(queue(&json, "batch")["best_effort"], true);
    assert_eq!(queue(&json, "web")["best_effort"], false);
}

#[test]
fn large_scenario_serves_seven_queues_on_their_processors_in_three_groups() {
    let (scenario, report, json) = run("large");
    common_checks("large", &scenario, &report, &json);
    assert_eq!(json["interrupt"]["requested"].as_array().unwrap().len(), 81);
    assert_eq!(json["vmq"]["queues_offered"], 7);
    assert_eq!(json["queues"].as_array().unwrap().len(), 7);
    for vm in &scenario.vms {
        let q = queue(&json, &vm.name);
        assert_eq!(q["best_effort"], false, "{q}");
        assert_eq!(n(&q["group"]), u64::from(vm.processor.group));
        assert_eq!(n(&q["processor"]), u64::from(vm.processor.number));
    }
}

#[test]
fn every_shipped_scenario_is_tested() {
    let tested: BTreeSet<&str> =
        ["default", "messages", "msi", "line", "rss", "large"].into_iter().collect();
    let shipped: BTreeSet<String> = std::fs::read_dir(demo::scenarios_dir())
        .expect("examples/scenarios")
        .filter_map(|entry| {
            let path = entry.ok()?.path();
            (path.extension()? == "toml").then(|| path.file_stem()?.to_str().map(str::to_owned))?
        })
        .collect();
    let shipped: BTreeSet<&str> = shipped.iter().map(String::as_str).collect();
    assert_eq!(shipped, tested);
}

/// A one-VM scenario on `groups = [2, 2]` with `vm` as the VM's fields.
fn with_vm(vm: &str) -> String {
    format!("[host]\ngroups = [2, 2]\n[[vm]]\nname = \"a\"\n{vm}\n")
}

#[test]
fn scenarios_the_hardware_cannot_satisfy_are_refused_with_the_reason() {
    let vms: Vec<String> = (0..8)
        .map(|i| {
            format!(
                "[[vm]]\nname = \"v{i}\"\nmac = \"02:00:00:00:00:{:02x}\"\nprocessor = \"0:{i}\"\n",
                i + 1
            )
        })
        .collect();
    let vms = vms.concat();
    let eight = format!("[host]\ngroups = [8]\n{vms}");
    let cases = [
        (eight, "the 82576 has 7 VM pools"),
        (with_vm("mac = \"02:00:00:00:01\"\nprocessor = \"0:1\""), "is not a MAC address"),
        (with_vm("mac = \"02:00:00:00:00:zz\"\nprocessor = \"0:1\""), "is not a MAC address"),
        (with_vm("mac = \"01:00:5e:00:00:01\"\nprocessor = \"0:1\""), "multicast"),
        (with_vm("mac = \"02:00:00:00:00:01\"\nprocessor = \"2:0\""), "not in the topology"),
        (with_vm("mac = \"02:00:00:00:00:01\"\nprocessor = \"0:2\""), "not in the topology"),
        (with_vm("mac = \"02:00:00:00:00:01\"\nprocessor = \"first\""), "group:number"),
        (with_vm("mac = \"02:00:00:00:00:01\"\nprocessor = \"0:1\"\nvlan = 4095"), "1 to 4094"),
        (with_vm("mac = \"02:00:00:00:00:01\""), "missing field `processor`"),
        ("[host]\ngroups = [2, 65]\n".to_owned(), "1 to 64 processors"),
        ("[host]\ngroups = []\n".to_owned(), "processor groups"),
        ("[host]\ngroups = [2]\nrss = [\"0:5\"]\n".to_owned(), "not in the topology"),
        ("[host]\ngroups = [2]\nrss = \"some\"\n".to_owned(), "host.rss"),
        ("[host]\ngroups = [2]\ngrant = \"messages:0\"\n".to_owned(), "host.grant"),
        ("[host]\ngroups = [2]\ngrant = \"msix\"\n".to_owned(), "host.grant"),
        ("[host]\ngroups = [2]\n[traffic]\nbroadcast = -5\n".to_owned(), "traffic.broadcast"),
        ("[host]\ngroups = [2]\nspeed = 10\n".to_owned(), "unknown field `speed`"),
        ("[host\n".to_owned(), "TOML parse error"),
    ];
    for (text, expected) in &cases {
        let error = Scenario::parse("test.toml", text).expect_err(text);
        let message = error.to_string();
        assert!(message.starts_with("test.toml: "), "{message}");
        assert!(message.contains(expected), "{text}\n-> {message}\n(expected {expected:?})");
    }
    let twins = "[host]\ngroups = [2]\n[[vm]]\nname = \"a\"\nmac = \"02:00:00:00:00:01\"\n\
                 processor = \"0:0\"\n[[vm]]\nname = \"b\"\nmac = \"02:00:00:00:00:01\"\n\
                 processor = \"0:1\"\n";
    assert!(Scenario::parse("t", twins).unwrap_err().message.contains("VM \"a\"'s already"));
}

#[test]
fn a_report_with_lost_frames_or_violations_fails() {
    let mut report = Report { passed: true, ..Report::default() };
    assert!(report.verdict().is_empty());
    report.traffic.lost = 3;
    report.violations.push(demo::report::ViolationReport {
        rule: "Rule.Name".to_owned(),
        detail: "what happened".to_owned(),
    });
    let verdict = report.verdict();
    assert!(verdict.iter().any(|l| l.contains("3 frame(s) lost")), "{verdict:?}");
    assert!(verdict.iter().any(|l| l.contains("1 contract violation")), "{verdict:?}");
    report.passed = false;
    let text = report.text();
    assert!(text.contains("FAIL: ") && text.contains("Rule.Name: what happened"), "{text}");
}
