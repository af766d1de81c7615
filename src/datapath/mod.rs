//! The data path as pure logic: receive batches with buffer lending ([`rx`], [`ledger`]), and
//! single-owner servicing of a queue without spin locks ([`claim`]). The NDIS side (NBLs,
//! indications, the DPC) is in `miniport::datapath`.

pub mod claim;
pub mod ledger;
pub mod rx;
pub mod tx;
pub mod vectors;

#[cfg(test)]
mod rx_tests;
#[cfg(test)]
mod tx_tests;
