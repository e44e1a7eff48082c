//! How many connections are open, overall and per client address, and the
//! permit each accepted connection holds until its socket closes.
//!
//! An IPv6 client is counted by its /64 (one host is commonly given a whole /64,
//! so counting single addresses would let it open a cap's worth from each); an
//! IPv4-mapped IPv6 address counts as the IPv4 address it carries.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::sync::{Arc, Mutex, PoisonError};

/// Which cap a connection would have gone past.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// `server.max_connections`: the server's own.
    Overall { limit: usize },
    /// `server.max_connections_per_ip`: this client address's.
    PerAddress { limit: usize },
}

/// The open connections' counts, shared by the accept loop and every connection.
#[derive(Debug)]
pub struct ConnectionLimits {
    overall: usize,
    /// 0: no cap per address.
    per_address: usize,
    counts: Mutex<Counts>,
}

#[derive(Debug, Default)]
struct Counts {
    open: usize,
    by_address: HashMap<IpAddr, usize>,
}

/// One open connection, counted until dropped (with the socket it travels with).
#[derive(Debug)]
pub struct Permit {
    limits: Arc<ConnectionLimits>,
    client: IpAddr,
}

impl ConnectionLimits {
    /// At most `overall` connections (at least one), and `per_address` from one
    /// client (0: no cap per address).
    pub fn new(overall: usize, per_address: usize) -> Arc<Self> {
        Arc::new(Self { overall: overall.max(1), per_address, counts: Mutex::new(Counts::default()) })
    }

    /// Counts a connection from `peer`, or says which cap it would pass.
    pub fn try_acquire(self: &Arc<Self>, peer: IpAddr) -> Result<Permit, Refusal> {
        let client = client_key(peer);
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if counts.open >= self.overall {
            return Err(Refusal::Overall { limit: self.overall });
        }
        let from_client = counts.by_address.entry(client).or_insert(0);
        if self.per_address > 0 && *from_client >= self.per_address {
            return Err(Refusal::PerAddress { limit: self.per_address });
        }
        *from_client += 1;
        counts.open += 1;
        metrics::gauge!(crate::metrics::HTTP_CONNECTIONS_OPEN).increment(1.0);
        Ok(Permit { limits: self.clone(), client })
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.counts.lock().unwrap_or_else(PoisonError::into_inner).open
    }

    /// The overall cap.
    pub fn overall(&self) -> usize {
        self.overall
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        metrics::gauge!(crate::metrics::HTTP_CONNECTIONS_OPEN).decrement(1.0);
        let mut counts = self.limits.counts.lock().unwrap_or_else(PoisonError::into_inner);
        counts.open = counts.open.saturating_sub(1);
        if let Some(from_client) = counts.by_address.get_mut(&self.client) {
            *from_client = from_client.saturating_sub(1);
            if *from_client == 0 {
                counts.by_address.remove(&self.client);
            }
        }
    }
}

/// The address a client is counted by: IPv4 as is (mapped ones unwrapped), IPv6
/// by its /64.
fn client_key(peer: IpAddr) -> IpAddr {
    match peer {
        IpAddr::V4(v4) => IpAddr::V4(v4),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(Ipv6Addr::from_bits(v6.to_bits() & !((1u128 << 64) - 1))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn each_address_has_its_own_cap() {
        let limits = ConnectionLimits::new(100, 2);
        let a1 = limits.try_acquire(ip("10.0.0.1")).expect("first");
        let _a2 = limits.try_acquire(ip("10.0.0.1")).expect("second");
        assert_eq!(limits.try_acquire(ip("10.0.0.1")).expect_err("refused"), Refusal::PerAddress { limit: 2 });
        let _b = limits.try_acquire(ip("10.0.0.2")).expect("another address is not held back");
        assert_eq!(limits.open(), 3);
        drop(a1);
        assert_eq!(limits.open(), 2);
        let _a3 = limits.try_acquire(ip("10.0.0.1")).expect("a closed connection frees its place");
    }

    #[test]
    fn the_overall_cap_holds_across_addresses() {
        let limits = ConnectionLimits::new(3, 0);
        let permits: Vec<Permit> =
            (1..=3).map(|n| limits.try_acquire(ip(&format!("10.0.0.{n}"))).expect("under the cap")).collect();
        assert_eq!(limits.try_acquire(ip("10.0.0.9")).expect_err("refused"), Refusal::Overall { limit: 3 });
        drop(permits);
        assert_eq!(limits.open(), 0);
        // No cap per address when it is 0.
        let _many: Vec<Permit> =
            (0..3).map(|_| limits.try_acquire(ip("10.0.0.1")).expect("no per-address cap")).collect();
    }

    #[test]
    fn a_refused_connection_counts_for_nothing() {
        let limits = ConnectionLimits::new(10, 1);
        let _held = limits.try_acquire(ip("10.0.0.1")).expect("first");
        for _ in 0..5 {
            limits.try_acquire(ip("10.0.0.1")).expect_err("over the per-address cap");
        }
        assert_eq!(limits.open(), 1);
        let _other = limits.try_acquire(ip("10.0.0.2")).expect("the refusals took no place");
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64_and_mapped_ipv4_as_ipv4() {
        let limits = ConnectionLimits::new(100, 1);
        let _a = limits.try_acquire(ip("2001:db8:1:2::1")).expect("first of the /64");
        assert!(limits.try_acquire(ip("2001:db8:1:2:ffff::9")).is_err(), "same /64, same client");
        let _b = limits.try_acquire(ip("2001:db8:1:3::1")).expect("another /64");
        let _c = limits.try_acquire(ip("192.0.2.7")).expect("IPv4");
        assert!(limits.try_acquire(ip("::ffff:192.0.2.7")).is_err(), "the mapped form is the same client");
    }
}
