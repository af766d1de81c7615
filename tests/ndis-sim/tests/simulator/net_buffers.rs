//! NBL pools, NBLs and MDLs: what the exports hand out, every contract check on them made to
//! fire (by calling an export wrongly, or by the fake miniport), with its passing counterpart;
//! the bytes and VLAN of receive indications; and sends of real frames by the simulated
//! protocol.

use std::ffi::c_void;
use std::ptr;
use std::time::Duration;

use ndis_sim::sim::exports::{
    NBL_BLOCK_NB_OFFSET, NdisAllocateMdl, NdisAllocateNetBufferAndNetBufferList,
    NdisAllocateNetBufferListPool, NdisFreeMdl, NdisFreeNetBufferList, NdisFreeNetBufferListPool,
    NdisMIndicateReceiveNetBufferLists, SendFrame,
};
use ndis_sim::sim::{GrantPolicy, ReturnPolicy, Sim, SimConfig, rules, with_state};
use vmqnic::ndis::{
    Ieee8021QNetBufferListInfo, MDL, MDL_ALLOCATED_FIXED_SIZE, MDL_SOURCE_IS_NONPAGED_POOL,
    NDIS_HANDLE, NDIS_OBJECT_HEADER, NDIS_RECEIVE_FLAGS_SINGLE_QUEUE, NDIS_STATUS_FAILURE,
    NDIS_STATUS_SUCCESS, NET_BUFFER, NET_BUFFER_LIST, NET_BUFFER_LIST_POOL_PARAMETERS,
    NetBufferListFilteringInfo, filtering_info_value, ieee8021q_info_value,
};

use crate::fake::{self, Behaviour, HALT, INITIALIZE, Receive, Step, receive_bytes, with_fake};

const WAIT: Duration = Duration::from_secs(2);

fn handle() -> NDIS_HANDLE {
    with_state(|s| s.miniport_handle) as NDIS_HANDLE
}

fn parameters(header: NDIS_OBJECT_HEADER) -> NET_BUFFER_LIST_POOL_PARAMETERS {
    NET_BUFFER_LIST_POOL_PARAMETERS {
        Header: header,
        ProtocolId: 0,
        fAllocateNetBuffer: 1,
        ContextSize: 0,
        PoolTag: fake::TAG,
        DataSize: 0,
        Flags: 0,
    }
}

fn pool_with(parameters: &NET_BUFFER_LIST_POOL_PARAMETERS) -> NDIS_HANDLE {
    // SAFETY: the parameters outlive the call.
    unsafe { NdisAllocateNetBufferListPool(handle(), parameters) }
}

fn pool() -> NDIS_HANDLE {
    pool_with(&parameters(NDIS_OBJECT_HEADER::new(0x80, 1, 0x10)))
}

// ---- What the exports hand out ----------------------------------------------------------------

#[test]
fn an_nbl_over_a_two_mdl_chain_is_laid_out_as_ndis_does() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let buffer: Vec<u8> = (0..=255).collect();
    let pool = pool();
    assert!(!pool.is_null());
    let first = NdisAllocateMdl(handle(), buffer.as_ptr() as *mut c_void, 100);
    let second = NdisAllocateMdl(handle(), buffer[100..].as_ptr() as *mut c_void, 156);
    // SAFETY: a live MDL from NdisAllocateMdl.
    let m1 = unsafe { *first };
    // SAFETY: as above.
    let m2 = unsafe { *second };
    let address = buffer.as_ptr() as usize;
    assert_eq!(m1.ByteCount, 100);
    assert_eq!(m1.MappedSystemVa as usize, address);
    assert_eq!(m1.StartVa as usize, address & !0xFFF);
    assert_eq!(m1.ByteOffset as usize, address & 0xFFF);
    assert_eq!(m1.MdlFlags, MDL_SOURCE_IS_NONPAGED_POOL | MDL_ALLOCATED_FIXED_SIZE);
    assert!(m1.Process.is_null() && m1.Next.is_null());
    let pages = ((address & 0xFFF) + 100).div_ceil(0x1000);
    assert_eq!(usize::try_from(m1.Size).unwrap(), 0x30 + 8 * pages);
    assert_eq!(m2.MappedSystemVa as usize, address + 100);
    // SAFETY: the driver links its own MDLs.
    unsafe { (*first).Next = second };
    // 14 bytes of backfill in the first MDL, then 200 bytes of data across both.
    let nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, first, 114, 120);
    assert!(!nbl.is_null());
    assert_eq!(nbl as usize % 16, 0);
    // SAFETY: a live NBL from the pool.
    let n = unsafe { &*nbl };
    assert_eq!(n.NdisPoolHandle, pool);
    assert!(n.Next.is_null() && n.Context.is_null() && n.SourceHandle.is_null());
    assert_eq!(n.FirstNetBuffer as usize, nbl as usize + NBL_BLOCK_NB_OFFSET);
    assert!(n.NetBufferListInfo.iter().all(|e| e.is_null()));
    // SAFETY: its preallocated NB.
    let nb = unsafe { &*n.FirstNetBuffer };
    assert!(nb.Next.is_null());
    assert_eq!(nb.MdlChain, first);
    assert_eq!((nb.CurrentMdl, nb.CurrentMdlOffset), (second, 14), "the MDL of byte 114");
    assert_eq!(nb.DataOffset, 114);
    // SAFETY: the ULONG view of the length.
    assert_eq!(unsafe { nb.DataLength.DataLength }, 120);
    assert_eq!(nb.NdisPoolHandle, pool);
    NdisFreeNetBufferList(nbl);
    NdisFreeMdl(first);
    NdisFreeMdl(second);
    NdisFreeNetBufferListPool(pool);
    assert_eq!(sim.violations(), vec![]);
    assert_eq!(sim.net_buffer_objects(), (0, 0, 0));
}

#[test]
fn an_nbl_without_data_and_a_revision_2_pool() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let pool = pool_with(&parameters(NDIS_OBJECT_HEADER::new(0x80, 2, 0x14)));
    let nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, ptr::null_mut(), 0, 0);
    assert!(!nbl.is_null());
    NdisFreeNetBufferList(nbl);
    NdisFreeNetBufferListPool(pool);
    assert_eq!(sim.violations(), vec![]);
}

// ---- Export checks ----------------------------------------------------------------------------

#[test]
fn pools_with_a_wrong_header_protocol_or_handle() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    assert!(pool_with(&parameters(NDIS_OBJECT_HEADER::new(0x80, 1, 0xC))).is_null());
    assert!(pool_with(&parameters(NDIS_OBJECT_HEADER::new(0x80, 2, 0x10))).is_null());
    let mut tcp = parameters(NDIS_OBJECT_HEADER::new(0x80, 1, 0x10));
    tcp.ProtocolId = 2;
    NdisFreeNetBufferListPool(pool_with(&tcp));
    let good = parameters(NDIS_OBJECT_HEADER::new(0x80, 1, 0x10));
    // SAFETY: the parameters outlive the call.
    let foreign = unsafe { NdisAllocateNetBufferListPool(ptr::dangling_mut(), &raw const good) };
    assert!(foreign.is_null());
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::OBJECT_HEADER_NBL_POOL_PARAMETERS,
            rules::OBJECT_HEADER_NBL_POOL_PARAMETERS,
            rules::NBL_POOL_PROTOCOL_ID,
            "NdisAllocateNetBufferListPool.Handle",
        ]
    );
}

#[test]
fn pools_freed_twice_or_with_nbls_outstanding() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let pool = pool();
    let nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, ptr::null_mut(), 0, 0);
    NdisFreeNetBufferListPool(pool);
    NdisFreeNetBufferListPool(pool);
    // The NBL is still tracked, and can still be freed.
    NdisFreeNetBufferList(nbl);
    assert_eq!(
        sim.violated_rules(),
        vec![rules::FREE_NBL_POOL_NBLS_OUTSTANDING, rules::FREE_NBL_POOL_UNKNOWN]
    );
}

#[test]
fn nbls_from_a_wrong_pool_or_with_wrong_arguments() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let buffer = [0u8; 64];
    let pool = pool();
    let mut bare = parameters(NDIS_OBJECT_HEADER::new(0x80, 1, 0x10));
    bare.fAllocateNetBuffer = 0;
    let without_nbs = pool_with(&bare);
    let mdl = NdisAllocateMdl(handle(), buffer.as_ptr() as *mut c_void, 64);
    // SAFETY: an all-zero MDL is a valid value; it is not NDIS's.
    let mut foreign: MDL = unsafe { std::mem::zeroed() };
    let null = ptr::null_mut();
    let nbls = [
        NdisAllocateNetBufferAndNetBufferList(ptr::dangling_mut(), 0, 0, null, 0, 0),
        NdisAllocateNetBufferAndNetBufferList(without_nbs, 0, 0, null, 0, 0),
        NdisAllocateNetBufferAndNetBufferList(pool, 8, 0, null, 0, 0),
        NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, null, 0, 60),
        NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, mdl, 10, 60),
        NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, &raw mut foreign, 0, 0),
    ];
    assert!(nbls.iter().all(|n| n.is_null()), "every one refused");
    NdisFreeMdl(mdl);
    NdisFreeNetBufferListPool(pool);
    NdisFreeNetBufferListPool(without_nbs);
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::ALLOCATE_NBL_UNKNOWN_POOL,
            rules::ALLOCATE_NBL_POOL_KIND,
            rules::ALLOCATE_NBL_CONTEXT_ALIGNMENT,
            rules::ALLOCATE_NBL_DATA_WITHOUT_MDL,
            rules::ALLOCATE_NBL_DATA_BEYOND_MDLS,
            rules::ALLOCATE_NBL_UNKNOWN_MDL,
        ]
    );
}

#[test]
fn nbls_and_mdls_freed_twice_or_never_allocated() {
    let sim = Sim::start(SimConfig::with_groups(&[1]));
    let buffer = [0u8; 16];
    let pool = pool();
    let nbl = NdisAllocateNetBufferAndNetBufferList(pool, 0, 0, ptr::null_mut(), 0, 0);
    NdisFreeNetBufferList(nbl);
    NdisFreeNetBufferList(nbl);
    let mdl = NdisAllocateMdl(handle(), buffer.as_ptr() as *mut c_void, 16);
    NdisFreeMdl(mdl);
    NdisFreeMdl(mdl);
    assert!(NdisAllocateMdl(ptr::dangling_mut(), buffer.as_ptr() as *mut c_void, 16).is_null());
    NdisFreeNetBufferListPool(pool);
    assert_eq!(
        sim.violated_rules(),
        vec![rules::FREE_NBL_UNKNOWN, rules::FREE_MDL_UNKNOWN, "NdisAllocateMdl.Handle"]
    );
}

// ---- Teardown and IRQL (the fake miniport) -----------------------------------------------------

fn full_cycle(behaviour: Behaviour) -> Sim {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(behaviour);
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    sim
}

#[test]
fn a_pool_freed_by_halt_is_fine_one_kept_is_not() {
    let initialize = [INITIALIZE, &[Step::AllocateNblPool]].concat();
    let sim = full_cycle(Behaviour { initialize: initialize.clone(), ..Behaviour::default() });
    assert_eq!(sim.violations(), vec![]);
    drop(sim);
    let halt: Vec<Step> = HALT.iter().copied().filter(|s| *s != Step::FreeNblPool).collect();
    let sim = full_cycle(Behaviour { initialize, halt, ..Behaviour::default() });
    assert_eq!(sim.violated_rules(), vec![rules::HALT_NBL_POOL, rules::UNLOAD_NET_BUFFERS]);
}

#[test]
fn an_nbl_and_an_mdl_kept_past_halt() {
    let initialize = [INITIALIZE, &[Step::AllocateNblAndMdl]].concat();
    let sim = full_cycle(Behaviour { initialize, ..Behaviour::default() });
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::FREE_NBL_POOL_NBLS_OUTSTANDING,
            rules::HALT_NBL,
            rules::HALT_MDL,
            rules::UNLOAD_NET_BUFFERS,
        ]
    );
}

#[test]
fn a_failing_initialize_that_keeps_its_pool() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour {
        initialize: vec![
            Step::Registration,
            Step::General,
            Step::AllocateNblAndMdl,
            Step::Return(NDIS_STATUS_FAILURE),
        ],
        ..Behaviour::default()
    });
    sim.load_driver(fake::driver_entry).unwrap();
    assert!(sim.start_device(GrantPolicy::AsRequested).is_err());
    assert_eq!(
        sim.violated_rules(),
        vec![
            rules::INITIALIZE_FAILURE_NBL_POOL,
            rules::INITIALIZE_FAILURE_NBL,
            rules::INITIALIZE_FAILURE_MDL,
        ]
    );
}

#[test]
fn pools_nbls_and_mdls_allocated_above_dispatch_level() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour { isr_step: Some(Step::AllocateNblAndMdl), ..Behaviour::default() });
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    sim.signal_message(0).unwrap();
    sim.deliver_interrupts(WAIT).unwrap();
    let rules = sim.violated_rules();
    assert_eq!(
        rules[..3],
        [
            "Irql.NdisAllocateNetBufferListPool",
            "Irql.NdisAllocateMdl",
            "Irql.NdisAllocateNetBufferAndNetBufferList",
        ]
    );
}

// ---- Receive indications: bytes, VLAN, pool NBLs ----------------------------------------------

use crate::fake::receiving;

#[test]
fn received_frames_are_read_through_their_mdls_with_the_stripped_vlan() {
    let receive = Receive {
        nbls: vec![(3, 60), (3, 1514)],
        flags: NDIS_RECEIVE_FLAGS_SINGLE_QUEUE,
        vlan: Some((100, 5)),
        ..Receive::default()
    };
    let mut sim = receiving(receive, ReturnPolicy::AfterDpc);
    let indications = sim.receive_indications();
    let nbls = &indications[0].nbls;
    assert_eq!(nbls[0].bytes(), receive_bytes(3, 60).as_slice());
    assert_eq!(nbls[1].frames, vec![receive_bytes(3, 1514)]);
    assert_eq!(nbls[1].ieee8021q, Some((100, 5)));
    assert!(with_fake(|f| f.receive_nbls.is_empty()), "returned and freed after the DPC");
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![], "the pool went in Halt");
}

#[test]
fn received_nbls_that_do_not_come_from_a_pool_or_whose_data_cannot_be_read() {
    let cases = [
        (Receive { not_from_pool: true, ..Receive::default() }, rules::RECEIVE_NBL_NOT_FROM_POOL),
        (Receive { overrun: 4, ..Receive::default() }, rules::RECEIVE_DATA_BEYOND_MDLS),
        (Receive { foreign_mdl: true, ..Receive::default() }, rules::RECEIVE_UNKNOWN_MDL),
    ];
    for (receive, rule) in cases {
        let receive = Receive { nbls: vec![(0, 60)], ..receive };
        let sim = receiving(receive, ReturnPolicy::AfterDpc);
        assert_eq!(sim.violated_rules(), vec![rule]);
        // The hand-built NBL has no data; the others' could not be read.
        assert!(sim.receive_indications()[0].nbls[0].frames.iter().all(Vec::is_empty));
    }
}

#[test]
fn an_nbl_indicated_again_or_freed_while_the_protocol_holds_it() {
    let sim = receiving(Receive { nbls: vec![(0, 60)], ..Receive::default() }, ReturnPolicy::Hold);
    let held = sim.receive_indications()[0].nbls[0].address as *mut NET_BUFFER_LIST;
    // SAFETY: the NBL the fake indicated (alive: the protocol holds it).
    unsafe { NdisMIndicateReceiveNetBufferLists(handle(), held, 0, 1, 0) };
    NdisFreeNetBufferList(held);
    assert_eq!(
        sim.violated_rules(),
        vec![rules::RECEIVE_NBL_ALREADY_INDICATED, rules::FREE_NBL_STILL_INDICATED]
    );
    sim.return_indicated_nbls();
    assert!(with_fake(|f| f.receive_nbls.is_empty()), "freed once returned");
}

// ---- Sends of real frames by the simulated protocol -------------------------------------------

#[test]
fn the_protocol_sends_real_frames_in_mdl_chains_and_reads_each_completion() {
    let mut sim = Sim::start(SimConfig::with_groups(&[2]));
    fake::reset(Behaviour::default());
    sim.load_driver(fake::driver_entry).unwrap();
    sim.start_device(GrantPolicy::AsRequested).unwrap();
    let frame: Vec<u8> = (0..200u8).collect();
    let frames = [
        SendFrame { bytes: frame.clone(), ..SendFrame::default() },
        SendFrame {
            bytes: frame.clone(),
            backfill: 30,
            mdl_size: Some(64),
            ieee8021q: Some((7, 3)),
            queue_id: Some(2),
            cancel_id: Some(9),
        },
    ];
    let nbls = sim.send_frames_as_nbls(&frames, 0).unwrap();
    assert_eq!(nbls.len(), 2);
    for nbl in &nbls {
        assert_eq!(sim.send_status(*nbl), Some(NDIS_STATUS_SUCCESS));
        assert_eq!(sim.sent_nbl_bytes(*nbl), Some(frame.clone()));
    }
    // SAFETY: the simulator keeps the protocol's NBLs alive.
    let second = unsafe { &*(nbls[1] as *const NET_BUFFER_LIST) };
    assert_eq!(
        second.NetBufferListInfo[Ieee8021QNetBufferListInfo] as usize,
        ieee8021q_info_value(7, 3)
    );
    assert_eq!(
        second.NetBufferListInfo[NetBufferListFilteringInfo] as usize,
        filtering_info_value(2, 0)
    );
    // SAFETY: its NB.
    let nb: &NET_BUFFER = unsafe { &*second.FirstNetBuffer };
    assert_eq!(nb.DataOffset, 30);
    // SAFETY: the chain's MDLs (64, 64, 64, 38 bytes for 230 bytes of backfill and frame).
    let first_mdl = unsafe { *nb.MdlChain };
    assert_eq!(first_mdl.ByteCount, 64);
    assert_eq!((nb.CurrentMdl, nb.CurrentMdlOffset), (nb.MdlChain, 30));
    sim.stop_device().unwrap();
    sim.unload_driver().unwrap();
    assert_eq!(sim.violations(), vec![]);
}
