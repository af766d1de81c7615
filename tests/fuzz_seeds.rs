//! The fuzz targets' seed corpora (`fuzz/seeds/<target>/`), made here from the same builders
//! the other tests use, so that each seed is a real request, list or descriptor in the input
//! format of its target (`fuzz/fuzz_targets/*.rs`: a few selector bytes read by
//! `vmqnic_fuzz::Reader`, then the bytes under test).
//!
//! `checked_in_seeds_are_the_generated_ones` fails when a checked-in seed differs from what
//! this file generates (so a format change cannot leave stale seeds behind);
//! `VMQNIC_WRITE_FUZZ_SEEDS=1 cargo test --test fuzz_seeds` rewrites them.
//! `seeds_are_accepted_by_their_parsers` shows the seeds reach past the parsers' first checks.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use ndis_sim::vmq_requests::{self, FilterField};
use vmqnic::hw::igb::{WriteBack, parse_writeback};
use vmqnic::interrupt::Processor;
use vmqnic::interrupt::grant::{self, parse_grant};
use vmqnic::interrupt::requirements::{self, RequirementsList};
use vmqnic::interrupt::rss::{self, RssProcessor, parse_rss_processor_info};
use vmqnic::ndis::{
    NDIS_CONNECT_LINE_BASED, NDIS_CONNECT_MESSAGE_BASED, NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS,
    NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED, NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED,
    OID_802_3_CURRENT_ADDRESS, OID_802_3_MULTICAST_LIST, OID_GEN_RCV_OK, OID_GEN_STATISTICS,
};
use vmqnic::oid::general::SUPPORTED_OIDS;
use vmqnic::vmq::oids;

type Seeds = BTreeMap<&'static str, Vec<(&'static str, Vec<u8>)>>;

fn u16le(value: usize) -> [u8; 2] {
    u16::try_from(value).unwrap().to_le_bytes()
}

fn oid_index(oid: u32) -> u8 {
    u8::try_from(SUPPORTED_OIDS.iter().position(|o| *o == oid).unwrap()).unwrap()
}

fn moderation(enabled: bool) -> Vec<u8> {
    let mut p = vec![0x80, 1, 12, 0, 0, 0, 0, 0];
    p.extend_from_slice(&(if enabled { 2u32 } else { 3 }).to_le_bytes());
    p
}

fn global_parameters() -> Vec<u8> {
    let size = size_of::<NDIS_RECEIVE_FILTER_GLOBAL_PARAMETERS>();
    let mut p = vec![0u8; size];
    vmq_requests::header(&mut p, 1, size);
    p[8..12].copy_from_slice(&NDIS_RECEIVE_FILTER_VMQ_FILTERS_ENABLED.to_le_bytes());
    p[12..16].copy_from_slice(&NDIS_RECEIVE_FILTER_VM_QUEUES_ENABLED.to_le_bytes());
    p
}

fn processors(count: u16) -> Vec<RssProcessor> {
    (0..count)
        .map(|i| RssProcessor {
            processor: Processor { group: i / 64, number: u8::try_from(i % 64).unwrap() },
            preference_index: i / 2,
        })
        .collect()
}

/// A write-back: status/error dword, length, VLAN.
fn writeback(status: u32, length: u16, vlan: u16) -> Vec<u8> {
    let mut d = vec![0u8; 16];
    d[0..4].copy_from_slice(&(0x11u32 << 4).to_le_bytes()); // IPv4 + TCP packet type
    d[8..12].copy_from_slice(&status.to_le_bytes());
    d[12..14].copy_from_slice(&length.to_le_bytes());
    d[14..16].copy_from_slice(&vlan.to_le_bytes());
    d.push(0); // buffer size 2048
    d
}

fn utf16(text: &str) -> Vec<u8> {
    text.encode_utf16().flat_map(u16::to_le_bytes).collect()
}

/// Every target's seeds, by target and file name.
#[allow(clippy::too_many_lines)] // one list of seeds per target, in one place
fn seeds() -> Seeds {
    let mut seeds = Seeds::new();
    let vm_mac = [0x02, 0x56, 0x4D, 0, 0, 1];
    seeds.insert(
        "oid_query",
        [OID_GEN_STATISTICS, OID_GEN_RCV_OK, OID_802_3_CURRENT_ADDRESS, OID_802_3_MULTICAST_LIST]
            .into_iter()
            .zip(["statistics", "rcv_ok_4", "current_address", "multicast_list"])
            .map(|(oid, name)| {
                let length = if oid == OID_GEN_RCV_OK { 4 } else { 0x98 };
                let mut seed = vec![oid_index(oid)];
                seed.extend_from_slice(&u16le(length));
                seed.extend_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
                seed.extend_from_slice(&[0x52, 0x54, 0, 0x12, 0x34, 0x56]);
                seed.extend_from_slice(&[1, 0xE8, 0x03, 0, 0, 1]); // up, 1000 Mb/s, full
                seed.extend((0u8..96).map(|i| i % 7)); // counters
                seed.extend_from_slice(&[0x0B, 0, 0, 0, 0xDC, 0x05, 0, 0, 1, 2]);
                seed.extend_from_slice(&[0x01, 0, 0x5E, 0, 0, 1, 0x33, 0x33, 0, 0, 0, 1]);
                (name, seed)
            })
            .collect(),
    );
    let filter = 0x0Bu32.to_le_bytes();
    let lookahead = 256u32.to_le_bytes();
    let list = [0x01, 0, 0x5E, 0, 0, 1, 0x33, 0x33, 0, 0, 0, 1];
    seeds.insert(
        "oid_set",
        vec![
            ("packet_filter", [&[0, 4][..], &filter, &0x2Fu32.to_le_bytes()].concat()),
            ("lookahead", [&[1, 4][..], &lookahead, &1500u32.to_le_bytes()].concat()),
            ("multicast_list", [&[2, 6][..], &list[..6], &list].concat()),
            ("moderation", [&[3, 12][..], &moderation(true), &moderation(false)].concat()),
        ],
    );
    let mut revision_3 = vmq_requests::queue_parameters(1, 0, 0b10, 0);
    revision_3.resize(0x448, 0);
    vmq_requests::header(&mut revision_3, 3, 0x448);
    seeds.insert(
        "vmq_queue_parameters",
        vec![
            ("allocate_queue", vmq_requests::allocate_queue(1, 0, 0b10).input),
            ("change_affinity", vmq_requests::change_affinity(1, 1, 0b01).input),
            ("revision_3", revision_3),
        ],
    );
    seeds.insert(
        "vmq_set_filter",
        vec![
            (
                "mac_untagged",
                vmq_requests::set_filter(
                    1,
                    1,
                    &[FilterField::Mac { address: vm_mac, untagged_or_zero: true }],
                )
                .input,
            ),
            (
                "mac_vlan",
                vmq_requests::set_filter(
                    2,
                    7,
                    &[
                        FilterField::Mac { address: vm_mac, untagged_or_zero: false },
                        FilterField::Vlan(100),
                    ],
                )
                .input,
            ),
            ("vlan", vmq_requests::set_filter(3, 9, &[FilterField::Vlan(4094)]).input),
        ],
    );
    seeds.insert(
        "vmq_allocation_complete",
        vec![
            ("one", vmq_requests::allocation_complete(&[1]).input),
            ("three", vmq_requests::allocation_complete(&[1, 2, 3]).input),
            ("none", vmq_requests::allocation_complete(&[]).input),
        ],
    );
    seeds.insert(
        "vmq_clear_free_global",
        vec![
            ("clear_filter", vmq_requests::clear_filter(1, 1).input),
            ("free_queue", vmq_requests::free_queue(1).input),
            ("global_parameters", global_parameters()),
        ],
    );
    let msix = requirements::build::pci_msix_function(&[0x2_0000, 0x4000], 10, 23);
    let mixed = requirements::build::requirements_list(&[
        vec![requirements::build::memory(0x2_0000, 0x2_0000, 0, 0xFFFF_FFFF)],
        vec![
            requirements::build::memory(0x2_0000, 0x2_0000, 0, 0xFFFF_FFFF),
            requirements::build::msi_messages(1),
        ],
        vec![requirements::build::line_interrupt(23)],
    ]);
    seeds.insert(
        "requirements",
        vec![
            ("msix_4_processors", [&[4, 0, 0, 1][..], &msix].concat()),
            ("msix_130_processors", [&[130, 0, 1, 3][..], &msix].concat()),
            ("msi_and_line", [&[2, 0, 0, 1][..], &mixed].concat()),
        ],
    );
    let targets = [0b1u64, 0b1, 0b10, 0b1];
    let resources = grant::build::partial_resource_list(&[
        grant::build::memory(0xC000_0000, 0x2_0000),
        grant::build::message(0, 0x60, 0b1),
        grant::build::message(0, 0x61, 0b1),
        grant::build::message(0, 0x62, 0b10),
        grant::build::message(1, 0x63, 0b1),
    ]);
    let info = grant::build::message_info(&targets);
    let msi = grant::build::partial_resource_list(&[
        grant::build::memory(0xC000_0000, 0x2_0000),
        grant::build::message(0, 0x60, 0b11),
    ]);
    let line = grant::build::partial_resource_list(&[
        grant::build::memory(0xC000_0000, 0x2_0000),
        grant::build::interrupt(0, 23, 0b11),
    ]);
    let prefix = |kind: u8, msix: u8, table: usize, split: usize| {
        [&[kind, msix, 1][..], &u16le(table), &u16le(split)].concat()
    };
    seeds.insert(
        "grant",
        vec![
            ("msix_4", [&prefix(1, 2, 10, resources.len())[..], &resources, &info].concat()),
            (
                "msi_1",
                [&prefix(1, 1, 10, msi.len())[..], &msi, &grant::build::message_info(&[0b11])]
                    .concat(),
            ),
            ("line", [&prefix(0, 0, 0, line.len())[..], &line].concat()),
        ],
    );
    seeds.insert(
        "rss",
        vec![
            ("one", rss::build_rss_processor_info(&processors(1))),
            ("four", rss::build_rss_processor_info(&processors(4))),
            ("eighty", rss::build_rss_processor_info(&processors(80))),
        ],
    );
    seeds.insert(
        "rx_writeback",
        vec![
            ("frame", writeback(0b11, 60, 0)),
            ("vlan_frame", writeback(0b1011, 1514, 0x6064)),
            ("crc_error", writeback(0b11 | 1 << 29, 60, 0)),
            ("too_long", writeback(0b11, 2049, 0)),
        ],
    );
    seeds.insert(
        "keywords",
        vec![
            ("vmq_one", [&[1, 2, 2, 1, 1, 1, 1, 1, 1][..], &utf16("1")].concat()),
            ("max_rss_blanks", [&[5, 2, 1, 16, 0, 0, 0, 2, 2][..], &utf16(" 42\t")].concat()),
            ("numa_overflow", [&[6, 2, 0, 2, 2, 2, 2, 2, 2][..], &utf16("4294967296")].concat()),
        ],
    );
    seeds
}

fn seed_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz").join("seeds")
}

#[test]
fn checked_in_seeds_are_the_generated_ones() {
    let write = std::env::var_os("VMQNIC_WRITE_FUZZ_SEEDS").is_some();
    let targets =
        std::fs::read_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/fuzz_targets"))
            .expect("fuzz/fuzz_targets")
            .map(|e| e.unwrap().path().file_stem().unwrap().to_string_lossy().into_owned())
            .collect::<std::collections::BTreeSet<_>>();
    let seeds = seeds();
    assert_eq!(
        seeds.keys().map(|k| (*k).to_string()).collect::<std::collections::BTreeSet<_>>(),
        targets,
        "one seed corpus per fuzz target"
    );
    for (target, files) in &seeds {
        let dir = seed_dir().join(target);
        if write {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
        }
        let mut names: Vec<String> = files.iter().map(|(n, _)| (*n).to_string()).collect();
        for (name, bytes) in files {
            let path = dir.join(name);
            if write {
                std::fs::write(&path, bytes).unwrap();
            }
            let on_disk =
                std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(&on_disk, bytes, "{} is stale (VMQNIC_WRITE_FUZZ_SEEDS=1)", path.display());
        }
        let mut present: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        present.sort();
        assert_eq!(present, names, "{target}: seeds this file does not make");
    }
}

#[test]
fn seeds_are_accepted_by_their_parsers() {
    let seeds = seeds();
    let get = |target: &str, name: &str| {
        seeds[target].iter().find(|(n, _)| *n == name).unwrap().1.clone()
    };
    assert!(oids::parse_allocate_queue(&get("vmq_queue_parameters", "allocate_queue")).is_ok());
    assert!(oids::parse_allocate_queue(&get("vmq_queue_parameters", "revision_3")).is_ok());
    assert!(oids::parse_queue_parameters(&get("vmq_queue_parameters", "change_affinity")).is_ok());
    for name in ["mac_untagged", "mac_vlan", "vlan"] {
        assert!(oids::parse_set_filter(&get("vmq_set_filter", name)).is_ok(), "{name}");
    }
    for name in ["one", "three", "none"] {
        assert!(oids::parse_allocation_complete(&get("vmq_allocation_complete", name)).is_ok());
    }
    assert!(oids::parse_clear_filter(&get("vmq_clear_free_global", "clear_filter")).is_ok());
    assert!(oids::parse_free_queue(&get("vmq_clear_free_global", "free_queue")).is_ok());
    assert!(
        oids::parse_global_parameters(&get("vmq_clear_free_global", "global_parameters")).is_ok()
    );
    for (_, seed) in &seeds["requirements"] {
        assert!(RequirementsList::parse(&seed[4..]).is_ok());
    }
    for (name, seed) in &seeds["grant"] {
        let split = usize::from(u16::from_le_bytes([seed[5], seed[6]]));
        let (resources, info) = seed[7..].split_at(split);
        let kind = if seed[0] == 0 { NDIS_CONNECT_LINE_BASED } else { NDIS_CONNECT_MESSAGE_BASED };
        let msix = [None, Some(false), Some(true)][usize::from(seed[1])];
        assert!(parse_grant(kind, resources, Some(info), msix).is_ok(), "grant {name}");
    }
    for (_, seed) in &seeds["rss"] {
        assert!(parse_rss_processor_info(seed).is_ok());
    }
    let frame = get("rx_writeback", "frame");
    let desc: [u8; 16] = frame[..16].try_into().unwrap();
    assert!(matches!(parse_writeback(&desc, 2048), WriteBack::Frame(_)));
}
