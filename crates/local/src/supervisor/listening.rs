//! Where a replica listens, when it does not listen where it should: the TCP sockets in the
//! LISTEN state (`0A`) of `/proc/net/tcp` and `/proc/net/tcp6` whose inodes are open in a
//! process of the replica's process group (`/proc/PID/fd/N -> socket:[INODE]` for every PID
//! whose `/proc/PID/stat` names that group). The readiness check asks only after its
//! connection to `127.0.0.1:$PORT` was refused, so the cause can name the port or address the
//! app chose instead.
//!
//! The parsers are pure (tested on sample `/proc` text); [`of_group`] is the only I/O. Linux
//! only: elsewhere `/proc/net/tcp` is missing and [`of_group`] says so.

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::PathBuf;

/// The LISTEN state in `/proc/net/tcp{,6}` (`TCP_LISTEN`).
const LISTEN: &str = "0A";

/// A listening socket of `/proc/net/tcp{,6}`: its local address and its inode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Listener {
    pub addr: SocketAddr,
    pub inode: u64,
}

/// Why the listening sockets could not be read.
#[derive(Debug, thiserror::Error)]
#[error("cannot read {}", path.display())]
pub struct ListeningError {
    path: PathBuf,
    #[source]
    source: std::io::Error,
}

/// The sockets in the LISTEN state of one `/proc/net/tcp` (`v6`: `/proc/net/tcp6`) text, in
/// its order; lines that do not parse are skipped.
pub fn parse_net_tcp(text: &str, v6: bool) -> Vec<Listener> {
    text.lines()
        .skip(1) // the header
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let (local, state, inode) = (f.get(1)?, f.get(3)?, f.get(9)?);
            if *state != LISTEN {
                return None;
            }
            let (ip, port) = local.split_once(':')?;
            let ip = if v6 { parse_ipv6(ip)? } else { parse_ipv4(ip)? };
            let port = u16::from_str_radix(port, 16).ok()?;
            Some(Listener {
                // An IPv4-mapped address (`::ffff:127.0.0.1`) is shown as the IPv4 one.
                addr: SocketAddr::new(ip.to_canonical(), port),
                inode: inode.parse().ok()?,
            })
        })
        .collect()
}

/// The kernel prints an IPv4 address as the `%08X` of its 32-bit word in host byte order.
fn parse_ipv4(hex: &str) -> Option<IpAddr> {
    if hex.len() != 8 {
        return None;
    }
    let word = u32::from_str_radix(hex, 16).ok()?;
    Some(IpAddr::V4(Ipv4Addr::from(word.to_ne_bytes())))
}

/// An IPv6 address is four such words.
fn parse_ipv6(hex: &str) -> Option<IpAddr> {
    if hex.len() != 32 || !hex.is_ascii() {
        return None;
    }
    let mut bytes = [0u8; 16];
    for (i, chunk) in bytes.chunks_mut(4).enumerate() {
        let word = u32::from_str_radix(&hex[i * 8..i * 8 + 8], 16).ok()?;
        chunk.copy_from_slice(&word.to_ne_bytes());
    }
    Some(IpAddr::V6(Ipv6Addr::from(bytes)))
}

/// The process group of a `/proc/PID/stat` text: the fifth field, counted after the command
/// name in parentheses (which may itself hold spaces and parentheses).
pub fn parse_pgrp(stat: &str) -> Option<u32> {
    let (_, rest) = stat.rsplit_once(')')?;
    // state, ppid, pgrp
    rest.split_whitespace().nth(2)?.parse().ok()
}

/// The inode of a `/proc/PID/fd/N` link target `socket:[INODE]`; `None` for anything else.
pub fn socket_inode(link: &str) -> Option<u64> {
    link.strip_prefix("socket:[")?
        .strip_suffix(']')?
        .parse()
        .ok()
}

/// The addresses of `listeners` whose socket is one of `inodes`, sorted, without repeats.
pub fn owned(listeners: &[Listener], inodes: &BTreeSet<u64>) -> Vec<SocketAddr> {
    let set: BTreeSet<SocketAddr> = listeners
        .iter()
        .filter(|l| inodes.contains(&l.inode))
        .map(|l| l.addr)
        .collect();
    set.into_iter().collect()
}

/// Where the processes of group `pgid` listen (TCP, IPv4 and IPv6), sorted. Processes that
/// exit or cannot be read meanwhile are skipped; only `/proc/net/tcp{,6}` must be readable.
pub fn of_group(pgid: u32) -> Result<Vec<SocketAddr>, ListeningError> {
    let inodes = group_socket_inodes(pgid);
    if inodes.is_empty() {
        return Ok(Vec::new());
    }
    let mut listeners = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        let text = std::fs::read_to_string(path).map_err(|source| ListeningError {
            path: path.into(),
            source,
        })?;
        listeners.extend(parse_net_tcp(&text, v6));
    }
    Ok(owned(&listeners, &inodes))
}

/// The socket inodes open in any process of group `pgid`.
fn group_socket_inodes(pgid: u32) -> BTreeSet<u64> {
    let mut inodes = BTreeSet::new();
    let Ok(procs) = std::fs::read_dir("/proc") else {
        return inodes;
    };
    for entry in procs.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let dir = PathBuf::from("/proc").join(pid);
        let in_group = std::fs::read_to_string(dir.join("stat"))
            .ok()
            .and_then(|s| parse_pgrp(&s))
            == Some(pgid);
        if !in_group {
            continue;
        }
        let Ok(fds) = std::fs::read_dir(dir.join("fd")) else {
            continue;
        };
        for fd in fds.flatten() {
            if let Ok(target) = std::fs::read_link(fd.path())
                && let Some(inode) = target.to_str().and_then(socket_inode)
            {
                inodes.insert(inode);
            }
        }
    }
    inodes
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real lines (x86_64, little-endian: the words are printed in host byte order).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 41817 1 0000000000000000 100 0 0 10 0
   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 20512 1 0000000000000000 100 0 0 10 0
   2: 0100007F:1F90 0100007F:C350 01 00000000:00000000 00:00000000 00000000  1000        0 41900 1 0000000000000000 20 4 30 10 -1
   3: garbage
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:A0E2 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 52011 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1F91 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 52012 1 0000000000000000 100 0 0 10 0
   2: 00000000000000000000000000000000:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 52013 1 0000000000000000 100 0 0 10 0
";

    #[cfg(target_endian = "little")]
    #[test]
    fn ipv4_listeners_only_in_the_listen_state() {
        let l = parse_net_tcp(TCP, false);
        assert_eq!(
            l,
            vec![
                Listener {
                    addr: "127.0.0.1:8080".parse().unwrap(),
                    inode: 41817
                },
                Listener {
                    addr: "0.0.0.0:22".parse().unwrap(),
                    inode: 20512
                },
            ]
        );
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn ipv6_listeners_with_mapped_addresses_shown_as_ipv4() {
        let addrs: Vec<String> = parse_net_tcp(TCP6, true)
            .iter()
            .map(|l| l.addr.to_string())
            .collect();
        assert_eq!(addrs, ["[::1]:41186", "127.0.0.1:8081", "[::]:80"]);
    }

    #[test]
    fn a_header_alone_or_empty_text_has_no_listeners() {
        assert!(parse_net_tcp("", false).is_empty());
        assert!(parse_net_tcp(TCP.lines().next().unwrap(), false).is_empty());
    }

    #[test]
    fn the_process_group_is_read_after_the_command_name() {
        let stat = "4242 (my app) (x)) S 4000 4241 4000 34816 4242 4194304 98 0 0 0";
        assert_eq!(parse_pgrp(stat), Some(4241));
        assert_eq!(parse_pgrp("4242 (sleep) S 1 4242 4242 0"), Some(4242));
        assert_eq!(parse_pgrp("no parenthesis"), None);
        assert_eq!(parse_pgrp("1 (x) S"), None);
    }

    #[test]
    fn socket_links_give_their_inode() {
        assert_eq!(socket_inode("socket:[41817]"), Some(41817));
        assert_eq!(socket_inode("pipe:[41817]"), None);
        assert_eq!(socket_inode("/dev/null"), None);
        assert_eq!(socket_inode("socket:[x]"), None);
    }

    #[cfg(target_endian = "little")]
    #[test]
    fn only_the_groups_sockets_are_kept_sorted_and_once() {
        let mut all = parse_net_tcp(TCP, false);
        all.extend(parse_net_tcp(TCP6, true));
        all.push(all[0]); // the same socket seen twice
        let inodes = BTreeSet::from([41817, 52011, 99]);
        let got: Vec<String> = owned(&all, &inodes).iter().map(|a| a.to_string()).collect();
        assert_eq!(got, ["127.0.0.1:8080", "[::1]:41186"]);
    }

    #[test]
    fn a_group_listening_on_a_port_is_found_in_proc() {
        // This test process is in some group; its own listener must be among that group's.
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = l.local_addr().unwrap();
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap();
        let pgid = parse_pgrp(&stat).unwrap();
        assert!(of_group(pgid).unwrap().contains(&addr));
    }
}
