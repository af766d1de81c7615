//! The VMQ queue states the simulated NDIS knows from the OIDs it issued (spec §2.3): a queue
//! exists after a successful ALLOCATE_QUEUE, has the filters of successful SET_FILTERs minus
//! successful CLEAR_FILTERs, is complete after QUEUE_ALLOCATION_COMPLETE reported success for
//! it, and is gone after FREE_QUEUE. Only a **Running** queue (complete, with a filter) may have
//! receives indicated on it.

use std::collections::{BTreeMap, BTreeSet};
use std::mem::offset_of;

use vmqnic::ndis::{
    self, NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, NDIS_RECEIVE_FILTER_PARAMETERS,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY,
    NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, NDIS_RECEIVE_QUEUE_FREE_PARAMETERS,
    NDIS_RECEIVE_QUEUE_PARAMETERS, NDIS_STATUS, NDIS_STATUS_SUCCESS,
};

/// One VM queue as NDIS sees it.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct QueueTrack {
    /// Filters set on it.
    pub filters: BTreeSet<u32>,
    /// QUEUE_ALLOCATION_COMPLETE succeeded for it.
    pub allocation_complete: bool,
}

impl QueueTrack {
    /// Receive indications are allowed (spec §2.3: the Running state).
    #[must_use]
    pub fn running(&self) -> bool {
        self.allocation_complete && !self.filters.is_empty()
    }
}

/// The queues of one adapter, by queue id (the default queue 0 is not tracked: it always
/// exists and may always receive while the adapter runs).
pub type Queues = BTreeMap<u32, QueueTrack>;

fn field(buffer: &[u8], offset: usize) -> Option<u32> {
    buffer.get(offset..offset + 4).and_then(|b| b.try_into().ok()).map(u32::from_le_bytes)
}

/// Updates `queues` for an OID that finished with `status`, from its information buffer as
/// the miniport left it.
pub(crate) fn track(queues: &mut Queues, oid: u32, status: NDIS_STATUS, buffer: &[u8]) {
    if status != NDIS_STATUS_SUCCESS {
        return;
    }
    match oid {
        ndis::OID_RECEIVE_FILTER_ALLOCATE_QUEUE => {
            if let Some(queue) = field(buffer, offset_of!(NDIS_RECEIVE_QUEUE_PARAMETERS, QueueId)) {
                queues.insert(queue, QueueTrack::default());
            }
        }
        ndis::OID_RECEIVE_FILTER_SET_FILTER => {
            let queue = field(buffer, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, QueueId));
            let filter = field(buffer, offset_of!(NDIS_RECEIVE_FILTER_PARAMETERS, FilterId));
            if let (Some(queue), Some(filter)) = (queue, filter)
                && let Some(track) = queues.get_mut(&queue)
            {
                track.filters.insert(filter);
            }
        }
        ndis::OID_RECEIVE_FILTER_CLEAR_FILTER => {
            let queue = field(buffer, offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, QueueId));
            let filter = field(buffer, offset_of!(NDIS_RECEIVE_FILTER_CLEAR_PARAMETERS, FilterId));
            if let (Some(queue), Some(filter)) = (queue, filter)
                && let Some(track) = queues.get_mut(&queue)
            {
                track.filters.remove(&filter);
            }
        }
        ndis::OID_RECEIVE_FILTER_QUEUE_ALLOCATION_COMPLETE => {
            let first = field(
                buffer,
                offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, FirstElementOffset),
            );
            let count = field(
                buffer,
                offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, NumElements),
            );
            let size = field(
                buffer,
                offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_ARRAY, ElementSize),
            );
            let (Some(first), Some(count), Some(size)) = (first, count, size) else { return };
            for i in 0..count.min(1024) {
                let Some(element) =
                    usize::try_from(first.saturating_add(i.saturating_mul(size))).ok()
                else {
                    break;
                };
                let queue = field(
                    buffer,
                    element
                        + offset_of!(NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS, QueueId),
                );
                let result = field(
                    buffer,
                    element
                        + offset_of!(
                            NDIS_RECEIVE_QUEUE_ALLOCATION_COMPLETE_PARAMETERS,
                            CompletionStatus
                        ),
                );
                if let (Some(queue), Some(0)) = (queue, result)
                    && let Some(track) = queues.get_mut(&queue)
                {
                    track.allocation_complete = true;
                }
            }
        }
        ndis::OID_RECEIVE_FILTER_FREE_QUEUE => {
            if let Some(queue) =
                field(buffer, offset_of!(NDIS_RECEIVE_QUEUE_FREE_PARAMETERS, QueueId))
            {
                queues.remove(&queue);
            }
        }
        _ => {}
    }
}
