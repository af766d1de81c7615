//! The state machine of one VM queue (ndis-vmq-spec §2.3), as a pure function.
//!
//! NDIS drives a VM queue through seven states with five OIDs and two driver events. The table
//! below is the spec's, row by row; every pair it leaves empty is an [`InvalidTransition`].
//!
//! | event \ state                 | Undefined  | Allocated | Set       | Running  | Paused    | StopDma  | Freeing    |
//! |-------------------------------|------------|-----------|-----------|----------|-----------|----------|------------|
//! | `Allocate`                    | Allocated  |           |           |          |           |          |            |
//! | `ParametersChanged`           |            | =         | =         | =        | =         |          |            |
//! | `SetFilter`                   |            | Set       | Set       | Running  | Running   |          |            |
//! | `ClearFilter { last: true }`  |            |           | Allocated | Paused   |           |          |            |
//! | `ClearFilter { last: false }` |            |           | Set       | Running  |           |          |            |
//! | `AllocationComplete`          |            | Paused    | Running   |          |           |          |            |
//! | `FreeQueue`                   |            | StopDma   |           |          | StopDma   |          |            |
//! | `DmaStopped`                  |            |           |           |          |           | Freeing  |            |
//! | `Freed`                       |            |           |           |          |           |          | Undefined  |
//!
//! Only a Running queue may indicate receives ([`may_indicate`]). A queue with filters (Set or
//! Running) cannot be freed: the protocol clears every filter first.
//!
//! The default queue (id 0) is not in this machine: it exists from Initialize to Halt, takes
//! filters from any protocol, and is never allocated or freed through OIDs.

use core::fmt;

/// Where a VM queue is in its life (ndis-vmq-spec §2.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum QueueState {
    /// No queue: before ALLOCATE_QUEUE and after the queue is freed.
    Undefined,
    /// Allocated, no filter, allocation not complete: no DMA, no indications.
    Allocated,
    /// At least one filter, allocation not complete: receive buffers not yet shared.
    Set,
    /// Filters and allocation complete: the only state in which receives are indicated.
    Running,
    /// Allocation complete, no filter (never had one, or the last was cleared).
    Paused,
    /// FREE_QUEUE arrived: receive DMA is being stopped.
    StopDma,
    /// DMA stopped and `NDIS_STATUS_RECEIVE_QUEUE_STATE` (DmaStopped) indicated: waiting for
    /// the queue's NBLs to come back and its shared memory to be freed.
    Freeing,
}

/// What happens to a VM queue.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum QueueEvent {
    /// OID_RECEIVE_FILTER_ALLOCATE_QUEUE.
    Allocate,
    /// OID_RECEIVE_FILTER_QUEUE_PARAMETERS (set): affinity, name or buffer count changed. The
    /// state stays as it is.
    ParametersChanged,
    /// OID_RECEIVE_FILTER_SET_FILTER on this queue.
    SetFilter,
    /// OID_RECEIVE_FILTER_CLEAR_FILTER on this queue; `last` when it removes the queue's last
    /// filter.
    ClearFilter {
        /// The queue has no filter left afterwards.
        last: bool,
    },
    /// This queue's element of OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE.
    AllocationComplete,
    /// OID_RECEIVE_FILTER_FREE_QUEUE.
    FreeQueue,
    /// Receive DMA has stopped and the DmaStopped queue state was indicated.
    DmaStopped,
    /// Every NBL of the queue is back and its shared memory is freed.
    Freed,
}

/// An event the state machine does not allow in a state (an empty cell of the table): a
/// protocol or driver bug. Nothing changes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct InvalidTransition {
    /// The state the queue was in (and stays in).
    pub state: QueueState,
    /// The refused event.
    pub event: QueueEvent,
}

impl fmt::Display for InvalidTransition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?} is not allowed in state {:?}", self.event, self.state)
    }
}

/// The state after `event` in `state`, exactly per the table in the module documentation.
///
/// # Errors
/// [`InvalidTransition`] for every pair the table leaves empty.
pub const fn next(state: QueueState, event: QueueEvent) -> Result<QueueState, InvalidTransition> {
    use QueueEvent as E;
    use QueueState as S;
    // One arm per row of the spec's table, so arms with the same target stay apart.
    #[allow(clippy::match_same_arms)]
    let next = match (state, event) {
        (S::Undefined, E::Allocate) => S::Allocated,
        (S::Allocated | S::Set | S::Running | S::Paused, E::ParametersChanged) => state,
        (S::Allocated | S::Set, E::SetFilter) => S::Set,
        (S::Running | S::Paused, E::SetFilter) => S::Running,
        (S::Set, E::ClearFilter { last: true }) => S::Allocated,
        (S::Running, E::ClearFilter { last: true }) => S::Paused,
        (S::Set | S::Running, E::ClearFilter { last: false }) => state,
        (S::Allocated, E::AllocationComplete) => S::Paused,
        (S::Set, E::AllocationComplete) => S::Running,
        (S::Allocated | S::Paused, E::FreeQueue) => S::StopDma,
        (S::StopDma, E::DmaStopped) => S::Freeing,
        (S::Freeing, E::Freed) => S::Undefined,
        _ => return Err(InvalidTransition { state, event }),
    };
    Ok(next)
}

/// Whether a queue in `state` may indicate received frames: Running only (ndis-vmq-spec §2.3,
/// §2.4).
#[must_use]
pub const fn may_indicate(state: QueueState) -> bool {
    matches!(state, QueueState::Running)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::vec::Vec;

    const STATES: [QueueState; 7] = [
        QueueState::Undefined,
        QueueState::Allocated,
        QueueState::Set,
        QueueState::Running,
        QueueState::Paused,
        QueueState::StopDma,
        QueueState::Freeing,
    ];

    const EVENTS: [QueueEvent; 9] = [
        QueueEvent::Allocate,
        QueueEvent::ParametersChanged,
        QueueEvent::SetFilter,
        QueueEvent::ClearFilter { last: true },
        QueueEvent::ClearFilter { last: false },
        QueueEvent::AllocationComplete,
        QueueEvent::FreeQueue,
        QueueEvent::DmaStopped,
        QueueEvent::Freed,
    ];

    /// The spec's table, transcribed cell by cell (rows = events in `EVENTS` order, columns =
    /// states in `STATES` order); `None` is an empty cell.
    fn table() -> [[Option<QueueState>; 7]; 9] {
        use QueueState::{Allocated as A, Freeing as F, Paused as P, Running as R, Set as S};
        use QueueState::{StopDma as D, Undefined as U};
        [
            //    Undefined Allocated Set      Running  Paused   StopDma  Freeing
            [Some(A), None, None, None, None, None, None],
            [None, Some(A), Some(S), Some(R), Some(P), None, None],
            [None, Some(S), Some(S), Some(R), Some(R), None, None],
            [None, None, Some(A), Some(P), None, None, None],
            [None, None, Some(S), Some(R), None, None, None],
            [None, Some(P), Some(R), None, None, None, None],
            [None, Some(D), None, None, Some(D), None, None],
            [None, None, None, None, None, Some(F), None],
            [None, None, None, None, None, None, Some(U)],
        ]
    }

    #[test]
    fn every_cell_of_the_table() {
        for (event, row) in EVENTS.iter().zip(table()) {
            for (state, cell) in STATES.iter().zip(row) {
                let got = next(*state, *event);
                match cell {
                    Some(expected) => assert_eq!(got, Ok(expected), "{state:?} + {event:?}"),
                    None => assert_eq!(
                        got,
                        Err(InvalidTransition { state: *state, event: *event }),
                        "{state:?} + {event:?}"
                    ),
                }
            }
        }
    }

    #[test]
    fn the_allowed_cells_are_exactly_nineteen() {
        let allowed =
            EVENTS.iter().flat_map(|e| STATES.iter().map(move |s| next(*s, *e))).flatten().count();
        assert_eq!(allowed, 19);
    }

    #[test]
    fn only_running_indicates() {
        let indicating: Vec<QueueState> =
            STATES.iter().copied().filter(|s| may_indicate(*s)).collect();
        assert_eq!(indicating, [QueueState::Running]);
    }

    #[test]
    fn a_whole_life() {
        use QueueEvent as E;
        use QueueState as S;
        let life = [
            E::Allocate,
            E::SetFilter,
            E::AllocationComplete,
            E::ParametersChanged,
            E::SetFilter,
            E::ClearFilter { last: false },
            E::ClearFilter { last: true },
            E::FreeQueue,
            E::DmaStopped,
            E::Freed,
        ];
        let mut state = QueueState::Undefined;
        let mut seen = Vec::new();
        for event in life {
            state = next(state, event).unwrap();
            seen.push(state);
        }
        assert_eq!(
            seen,
            [
                S::Allocated,
                S::Set,
                S::Running,
                S::Running,
                S::Running,
                S::Running,
                S::Paused,
                S::StopDma,
                S::Freeing,
                S::Undefined
            ]
        );
    }

    #[test]
    fn a_queue_with_filters_cannot_be_freed() {
        for state in [QueueState::Set, QueueState::Running] {
            assert!(next(state, QueueEvent::FreeQueue).is_err());
        }
        let error = next(QueueState::Running, QueueEvent::FreeQueue).unwrap_err();
        assert_eq!(std::format!("{error}"), "FreeQueue is not allowed in state Running");
    }
}
