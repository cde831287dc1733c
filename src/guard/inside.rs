//! Signs of a customer's inside: what only makes sense within one organisation's network and
//! so, for this sender, comes from a customer's environment. Context-free: refused in any item.
//!
//! - special-use addresses (RFC 1918, 5735/6890, 6598, and the IPv6 special ranges), including
//!   IPv4 embedded in IPv6. RFC 5737/3849 documentation ranges are not an inside (they are no
//!   one's network) and are accepted when the policy says so (the default): the OASIS examples
//!   use them;
//! - internal host names (`.local`, `.internal`, `.corp`, `.lan`, ... from the policy) and
//!   single-label names where only a host can be (URL host, UNC server, e-mail domain,
//!   domain-name value). RFC 2606/6761 documentation names (`example.com`, `.example`, `.test`,
//!   `.invalid`) are not an inside;
//! - user home paths with a real user name (placeholders like `%USERNAME%` are fine);
//! - user accounts written `DOMAIN\user` (only where the context is a victim; see `context`).

use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use regex::Regex;

fn v4(a: [u8; 4], l: u8) -> Ipv4Net {
    Ipv4Net::new(Ipv4Addr::from(a), l).expect("constant range")
}

fn v6(s: [u16; 8], l: u8) -> Ipv6Net {
    Ipv6Net::new(Ipv6Addr::from(s), l).expect("constant range")
}

/// IPv4 special-use ranges (RFC 1918, 5735/6890, 6598), documentation excluded.
static SPECIAL_V4: LazyLock<Vec<Ipv4Net>> = LazyLock::new(|| {
    vec![
        v4([0, 0, 0, 0], 8),
        v4([10, 0, 0, 0], 8),
        v4([100, 64, 0, 0], 10),
        v4([127, 0, 0, 0], 8),
        v4([169, 254, 0, 0], 16),
        v4([172, 16, 0, 0], 12),
        v4([192, 0, 0, 0], 24),
        v4([192, 88, 99, 0], 24),
        v4([192, 168, 0, 0], 16),
        v4([198, 18, 0, 0], 15),
        v4([224, 0, 0, 0], 4),
        v4([240, 0, 0, 0], 4),
    ]
});
static DOC_V4: LazyLock<Vec<Ipv4Net>> = LazyLock::new(|| {
    vec![
        v4([192, 0, 2, 0], 24),
        v4([198, 51, 100, 0], 24),
        v4([203, 0, 113, 0], 24),
    ]
});
/// IPv6 special-use ranges (RFC 6890 and successors), documentation excluded. Mapped, NAT64
/// and 6to4 addresses are judged by their embedded IPv4 (see `canon::embedded_v4`).
static SPECIAL_V6: LazyLock<Vec<Ipv6Net>> = LazyLock::new(|| {
    vec![
        v6([0, 0, 0, 0, 0, 0, 0, 0], 128),
        v6([0, 0, 0, 0, 0, 0, 0, 1], 128),
        v6([0x64, 0xff9b, 1, 0, 0, 0, 0, 0], 48),
        v6([0x100, 0, 0, 0, 0, 0, 0, 0], 64),
        v6([0xfc00, 0, 0, 0, 0, 0, 0, 0], 7),
        v6([0xfe80, 0, 0, 0, 0, 0, 0, 0], 10),
        v6([0xfec0, 0, 0, 0, 0, 0, 0, 0], 10),
        v6([0xff00, 0, 0, 0, 0, 0, 0, 0], 8),
    ]
});
static DOC_V6: LazyLock<Vec<Ipv6Net>> =
    LazyLock::new(|| vec![v6([0x2001, 0xdb8, 0, 0, 0, 0, 0, 0], 32)]);

/// True when the address or range lies inside a special-use range. A wide range that merely
/// contains one (an indicator for 8.0.0.0/6) describes no network's inside and is not refused.
pub fn special_ip(net: &IpNet, allow_documentation: bool) -> bool {
    match net {
        IpNet::V4(n) => {
            SPECIAL_V4.iter().any(|s| s.contains(n))
                || (!allow_documentation && DOC_V4.iter().any(|s| s.contains(n)))
        }
        IpNet::V6(n) => {
            SPECIAL_V6.iter().any(|s| s.contains(n))
                || (!allow_documentation && DOC_V6.iter().any(|s| s.contains(n)))
        }
    }
}

/// True when the host ends in one of `suffixes` (label-aligned; `corp` matches `x.corp`).
pub fn has_suffix(host: &str, suffixes: &[String]) -> bool {
    suffixes.iter().any(|s| {
        host == s
            || (host.len() > s.len()
                && host.ends_with(s.as_str())
                && host.as_bytes()[host.len() - s.len() - 1] == b'.')
    })
}

/// An internal host name: an inside suffix, or a single label where only a host can be. Names
/// under a documentation suffix never are.
pub fn internal_host(
    host: &str,
    exact: bool,
    inside: &[String],
    documentation: &[String],
    single_label: bool,
) -> bool {
    if has_suffix(host, documentation) {
        return false;
    }
    if has_suffix(host, inside) {
        return true;
    }
    // A single label with a letter: `fileserver`, not `338` (a handle, a number).
    exact && single_label && !host.contains('.') && host.bytes().any(|b| b.is_ascii_alphabetic())
}

static HOME_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?i)(?:(?-u:\b)[a-z]:[\\/]+|[\\/]+)(?:users|documents and settings|home|export[\\/]+home)[\\/]+([^\\/\s'"*?<>|:\]\[,;)]+)"#)
        .expect("home regex")
});

/// True when the string holds a user home path naming a real user: `C:\Users\<name>`,
/// `/home/<name>`, `/Users/<name>`. Names in `placeholders`, or starting with `%`, `$`, `<`, `{`
/// or `*`, are placeholders (`%USERNAME%`, `<user>`). URL paths (`https://x/users/...`) are not
/// home paths.
pub fn home_path(s: &str, placeholders: &[String]) -> bool {
    if !s.contains(['\\', '/'])
        || !(super::canon::contains_ci(s, "users")
            || super::canon::contains_ci(s, "home")
            || super::canon::contains_ci(s, "settings"))
    {
        return false;
    }
    HOME_RE.captures_iter(s).any(|c| {
        let (Some(m), Some(name)) = (c.get(0), c.get(1)) else {
            return false;
        };
        // Inside a URL? Look at the whitespace-delimited token holding the match.
        let token_start = s[..m.start()]
            .rfind(char::is_whitespace)
            .map_or(0, |i| i + 1);
        if s[token_start..m.start()].contains("://") {
            return false;
        }
        let n = name.as_str().trim().to_lowercase();
        !(n.is_empty()
            || n.starts_with(['%', '$', '<', '{', '*', '.'])
            || placeholders.contains(&n))
    })
}

static DOMAIN_USER_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:^|[\s'"=(,;])([A-Za-z][A-Za-z0-9-]{0,14})\\{1,2}([A-Za-z][A-Za-z0-9._-]{0,19})(?:$|[\s'",;)])"#)
        .expect("domain user regex")
});

const NOT_A_DOMAIN: &[&str] = &[
    "builtin",
    "authority",
    "nt",
    "hklm",
    "hkcu",
    "hku",
    "hkcr",
    "hkcc",
    "hkey_local_machine",
    "system32",
    "syswow64",
    "windows",
    "temp",
    "appdata",
    "software",
    "system",
    "device",
];
const NOT_A_USER: &[&str] = &[
    "system",
    "administrators",
    "users",
    "everyone",
    "local",
    "network",
    "guest",
    "guests",
];

/// True when the string names a Windows account `DOMAIN\user` (a standalone token, not a path
/// component; well-known principals and registry hives excluded).
pub fn domain_user(s: &str) -> bool {
    if !s.contains('\\') {
        return false;
    }
    DOMAIN_USER_RE.captures_iter(s).any(|c| {
        let d = c.get(1).map_or("", |m| m.as_str()).to_ascii_lowercase();
        let u = c.get(2).map_or("", |m| m.as_str()).to_ascii_lowercase();
        !NOT_A_DOMAIN.contains(&d.as_str())
            && !NOT_A_USER.contains(&u.as_str())
            && !d.starts_with("hkey")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(s: &str) -> IpNet {
        s.parse().expect("net")
    }

    #[test]
    fn special_ranges() {
        for s in [
            "10.0.0.0/32",
            "10.1.2.0/24",
            "192.168.1.1/32",
            "172.20.0.0/16",
            "100.64.1.1/32",
            "127.0.0.1/32",
            "169.254.9.9/32",
            "fe80::1/128",
            "fd00:1::/64",
            "::1/128",
            "ff02::1/128",
        ] {
            assert!(special_ip(&n(s), true), "{s}");
        }
        for s in [
            "8.8.8.8/32",
            "223.166.0.0/15",
            "8.0.0.0/6",
            "2600::/16",
            "60.10.1.120/32",
        ] {
            assert!(!special_ip(&n(s), true), "{s}");
        }
        assert!(!special_ip(&n("198.51.100.3/32"), true));
        assert!(special_ip(&n("198.51.100.3/32"), false));
        assert!(!special_ip(&n("2001:db8::1/128"), true));
        assert!(special_ip(&n("2001:db8::1/128"), false));
    }

    #[test]
    fn hosts() {
        let inside: Vec<String> = ["local", "corp", "internal", "lan", "home.arpa"]
            .map(String::from)
            .to_vec();
        let doc: Vec<String> = ["example", "test", "example.com"]
            .map(String::from)
            .to_vec();
        assert!(internal_host("dc01.acme.corp", false, &inside, &doc, true));
        assert!(internal_host("printer.local", false, &inside, &doc, true));
        assert!(internal_host("nas.home.arpa", false, &inside, &doc, true));
        assert!(!internal_host(
            "corp.example.com",
            false,
            &inside,
            &doc,
            true
        ));
        assert!(!internal_host("notcorp", false, &inside, &doc, true));
        assert!(internal_host("fileserver", true, &inside, &doc, true));
        assert!(!internal_host("fileserver", true, &inside, &doc, false));
        assert!(!internal_host("338", true, &inside, &doc, true));
        assert!(!internal_host("x.example", true, &inside, &doc, true));
    }

    #[test]
    fn home_paths() {
        let p: Vec<String> = ["public", "default", "all users"]
            .map(String::from)
            .to_vec();
        assert!(home_path(r"C:\Users\jsmith\AppData\x.exe", &p));
        assert!(home_path(r"C:\\Users\\jsmith\\AppData", &p));
        assert!(home_path("/home/alice/.ssh/id_rsa", &p));
        assert!(home_path("/Users/bob/Library", &p));
        assert!(home_path(r"c:/documents and settings/carol/x", &p));
        assert!(!home_path(r"C:\Users\%USERNAME%\AppData", &p));
        assert!(!home_path(r"C:\Users\Public\x", &p));
        assert!(!home_path(r"C:\Users\<user>\x", &p));
        assert!(!home_path("https://github.com/users/alice", &p));
        assert!(!home_path(r"C:\Windows\System32", &p));
    }

    #[test]
    fn domain_users() {
        assert!(domain_user(r"logged on as ACME\jsmith yesterday"));
        assert!(domain_user(r"ACMEBANK\\j.doe"));
        assert!(!domain_user(r"C:\Windows\System32\drivers"));
        assert!(!domain_user(r"HKLM\Software"));
        assert!(!domain_user(r"NT AUTHORITY\SYSTEM"));
        assert!(!domain_user(r"BUILTIN\Administrators"));
    }
}
