//! `rbuild run -t`: the command runs on a pseudo-terminal rbuild allocates (not on rbuild's own
//! terminal), bound at the container's `/dev/console`; rbuild relays it with its own terminal in raw mode
//! (restored at the end) and passes window size changes on. Driven through the real binary, with rbuild
//! itself on a pty pair the test opens (its controlling terminal, as in an interactive shell). Root only.

mod common;

use common::{require_root, TestContext};
use nix::pty::{openpty, Winsize};
use nix::sys::termios::{tcgetattr, LocalFlags};
use std::fs::File;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::process::{Child, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::Duration;

fn busybox() -> TestContext {
    require_root();
    let t = TestContext::new();
    t.import_busybox();
    t
}

fn size(rows: u16, cols: u16) -> Winsize {
    Winsize { ws_row: rows, ws_col: cols, ws_xpixel: 0, ws_ypixel: 0 }
}

/// rbuild on a pty pair of the test's: the master (to type into and read from), the slave (to inspect
/// its modes), rbuild's process, and everything read from the master so far.
struct Session {
    master: File,
    slave: OwnedFd,
    child: Child,
    rx: Receiver<Vec<u8>>,
    seen: String,
}

impl Session {
    fn start(t: &TestContext, args: &[&str], rows: u16, cols: u16) -> Session {
        let pair = openpty(Some(&size(rows, cols)), None).unwrap();
        let fd = pair.slave.as_raw_fd();
        let mut cmd = t.process();
        cmd.args(args)
            .stdin(Stdio::from(pair.slave.try_clone().unwrap()))
            .stdout(Stdio::from(pair.slave.try_clone().unwrap()))
            .stderr(Stdio::from(pair.slave.try_clone().unwrap()));
        // SAFETY: setsid and ioctl are plain system calls, fine between fork and exec.
        unsafe {
            cmd.pre_exec(move || {
                // The pty becomes rbuild's controlling terminal, rbuild its foreground group (SIGWINCH).
                libc::setsid();
                if libc::ioctl(fd, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = cmd.spawn().unwrap();
        let master = File::from(pair.master);
        let mut reader = master.try_clone().unwrap();
        let (tx, rx) = channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = reader.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    return;
                }
            }
        });
        Session { master, slave: pair.slave, child, rx, seen: String::new() }
    }

    fn type_line(&mut self, line: &str) {
        self.master.write_all(format!("{line}\r").as_bytes()).unwrap();
    }

    /// Read until the output holds `needle` (the long limit only turns a hang into a failure).
    fn expect(&mut self, needle: &str) {
        while !self.seen.contains(needle) {
            match self.rx.recv_timeout(Duration::from_secs(60)) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => panic!("never saw {needle:?}; the terminal showed:\n{}", self.seen),
            }
        }
    }

    /// Whether `needle` arrives within a short while (for polling a change that propagates by signal).
    fn sees_soon(&mut self, needle: &str) -> bool {
        while !self.seen.contains(needle) {
            match self.rx.recv_timeout(Duration::from_millis(500)) {
                Ok(chunk) => self.seen.push_str(&String::from_utf8_lossy(&chunk)),
                Err(_) => return false,
            }
        }
        true
    }

    fn resize(&self, rows: u16, cols: u16) {
        let ws = size(rows, cols);
        // SAFETY: TIOCSWINSZ reads one winsize from a struct we own.
        assert_eq!(unsafe { libc::ioctl(self.master.as_raw_fd(), libc::TIOCSWINSZ, &ws as *const Winsize) }, 0);
    }
}

#[test]
fn run_t_gives_the_command_a_terminal_even_without_one_on_stdin() {
    let t = busybox();
    // Docker's `run -t` allocates a terminal whatever rbuild's stdin is; before, `tty` said "not a tty".
    let out = t.process().args(["run", "--rm", "-t", "busybox", "sh", "-c", "tty; stty size"]).output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    // The pty's output processing turns "\n" into "\r\n", as docker's does.
    assert_eq!(stdout, "/dev/pts/0\r\n24 80\r\n");
}

#[test]
fn a_non_root_user_owns_its_terminal_and_can_reopen_it() {
    let t = busybox();
    // runc gives the user its pty (fixStdioPermissions); the devpts default owner is root, mode 0620.
    let script = "stat -c %u /dev/pts/0; echo reopened > $(tty)";
    let out = t.process().args(["run", "--rm", "-t", "-u", "65534", "busybox", "sh", "-c", script]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "65534\r\nreopened\r\n");
}

#[test]
fn run_it_relays_its_own_pty_in_raw_mode_and_passes_resizes_on() {
    let t = busybox();
    let mut s = Session::start(&t, &["run", "--rm", "-it", "busybox", "sh"], 33, 111);
    // The container's own pty (the first of its devpts instance), bound at /dev/console too, as docker
    // does; before, /dev/console was rbuild's host pty and `tty` named it.
    s.type_line("tty; stty size; echo \"M:$(stat -c %t:%T /dev/pts/0)=$(stat -c %t:%T /dev/console):$((1+1))\"");
    s.expect("/dev/pts/0\r\n");
    s.expect("33 111");
    s.expect(":2\r\n");
    let line = s.seen.rsplit("M:").next().unwrap().rsplit_once(':').unwrap().0.to_string();
    assert_eq!(line, "88:0=88:0", "/dev/pts/0 (136:0) is the console:\n{}", s.seen);
    // rbuild's terminal is raw while it relays: no echo, no line editing of its own.
    let modes = tcgetattr(&s.slave).unwrap();
    assert!(!modes.local_flags.intersects(LocalFlags::ECHO | LocalFlags::ICANON), "{:?}", modes.local_flags);
    // A resize of rbuild's terminal reaches the command's (SIGWINCH to rbuild, TIOCSWINSZ on the master).
    s.resize(40, 120);
    let mut resized = false;
    for _ in 0..60 {
        s.type_line("stty size");
        if s.sees_soon("40 120") {
            resized = true;
            break;
        }
    }
    assert!(resized, "the new size never reached the container:\n{}", s.seen);
    s.type_line("exit 3");
    let status = s.child.wait().unwrap();
    assert_eq!(status.code(), Some(3), "{}", s.seen);
    // And rbuild gave its terminal its modes back.
    let modes = tcgetattr(&s.slave).unwrap();
    assert!(modes.local_flags.contains(LocalFlags::ECHO | LocalFlags::ICANON), "{:?}", modes.local_flags);
}

#[test]
fn exec_t_gives_the_command_a_pty_of_the_containers_devpts() {
    let s = common::containers::busybox();
    common::containers::ok(&s, &["run", "-d", "--network", "none", "--name", "ex", "busybox", "sleep", "1000"]);
    // Before, `exec -t` was refused. The container has no terminal of its own: the first pty is pts/0.
    let out = s.process().args(["exec", "-t", "ex", "sh", "-c", "tty; stty size; exit 4"]).output().unwrap();
    assert_eq!(out.status.code(), Some(4), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "/dev/pts/0\r\n24 80\r\n");
}

/// What `ps -a` says of container `name` (its STATUS column).
fn status(s: &TestContext, name: &str) -> String {
    let out = common::containers::ok(s, &["ps", "-a", "--format", "{{.Names}}={{.Status}}"]);
    let prefix = format!("{name}=");
    out.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {name} in {out}")).to_string()
}

impl Session {
    /// The exit code of rbuild; a client that never exits fails the test instead of hanging it.
    fn exit_code(&mut self) -> Option<i32> {
        let mut code = None;
        common::wait_until("rbuild to exit", || {
            code = self.child.try_wait().unwrap().map(|s| s.code());
            code.is_some()
        });
        code.unwrap()
    }

    /// Type `stty size` until the terminal says `rows cols` (a resize arrives by signal).
    fn sees_size(&mut self, rows: u16, cols: u16) -> bool {
        (0..60).any(|_| {
            self.type_line("stty size");
            self.sees_soon(&format!("{rows} {cols}"))
        })
    }
}

#[test]
fn run_d_it_then_attach_detaches_on_ctrl_p_ctrl_q_and_reattaches_to_the_same_shell() {
    let s = common::containers::busybox();
    common::containers::ok(&s, &["run", "-d", "-it", "--network", "none", "--name", "tt", "busybox", "sh"]);
    let mut a = Session::start(&s, &["attach", "tt"], 30, 100);
    a.type_line("X=kept; echo hi");
    // The shell echoes the line; its output follows on a line of its own.
    a.expect("\nhi\r\n");
    // Ctrl-P Ctrl-Q: attach ends at once, printing nothing more, and the container runs on.
    a.master.write_all(b"\x10\x11").unwrap();
    assert_eq!(a.exit_code(), Some(0), "{}", a.seen);
    assert!(status(&s, "tt").starts_with("Up"), "{}", status(&s, "tt"));
    // Again: the same shell (its variable is still set), on the container's own /dev/pts/0, sized like
    // this terminal and following its resizes.
    let mut a = Session::start(&s, &["attach", "tt"], 30, 100);
    a.type_line("tty; echo \"X=$X\"");
    a.expect("/dev/pts/0\r\n");
    a.expect("X=kept\r\n");
    assert!(a.sees_size(30, 100), "{}", a.seen);
    a.resize(41, 121);
    assert!(a.sees_size(41, 121), "the new size never reached the container:\n{}", a.seen);
    // The container's output went to its log too (docker's json-file shape).
    let log = common::containers::ok(&s, &["logs", "tt"]);
    assert!(log.contains("hi\r\n"), "{log}");
    a.type_line("exit");
    assert_eq!(a.exit_code(), Some(0), "{}", a.seen);
    assert!(status(&s, "tt").starts_with("Exited (0)"), "{}", status(&s, "tt"));
}

#[test]
fn start_a_i_attaches_to_a_created_it_container_and_exits_with_its_code() {
    let s = common::containers::busybox();
    common::containers::ok(&s, &["create", "-it", "--network", "none", "--name", "cc", "busybox", "sh"]);
    let mut a = Session::start(&s, &["start", "-a", "-i", "cc"], 24, 80);
    a.type_line("echo \"sum=$((40+2))\"");
    a.expect("sum=42\r\n");
    // A detach sequence that is not completed goes to the shell (Ctrl-P recalls the last line in
    // busybox's line editing; Ctrl-U erases it again).
    a.master.write_all(b"\x10\x15").unwrap();
    a.type_line("exit 3");
    assert_eq!(a.exit_code(), Some(3), "{}", a.seen);
    assert!(status(&s, "cc").starts_with("Exited (3)"), "{}", status(&s, "cc"));
}

#[test]
fn attach_to_a_container_without_a_terminal_streams_its_output_until_it_exits() {
    let s = common::containers::busybox();
    let script = "while [ ! -e /tmp/go ]; do echo tick; sleep 0.2; done; echo late; exit 5";
    common::containers::ok(&s, &["run", "-d", "--network", "none", "--name", "pp", "busybox", "sh", "-c", script]);
    let mut a = Session::start(&s, &["attach", "pp"], 24, 80);
    a.expect("tick");
    common::containers::ok(&s, &["exec", "pp", "touch", "/tmp/go"]);
    a.expect("late");
    assert_eq!(a.exit_code(), Some(5), "{}", a.seen);
}

#[test]
fn attach_to_a_terminal_run_in_the_foreground_says_why_it_cannot() {
    let s = common::containers::busybox();
    let mut fg = Session::start(&s, &["run", "-it", "--network", "none", "--name", "fg", "busybox", "sh"], 24, 80);
    fg.type_line("echo ready-$((1+1))");
    fg.expect("ready-2\r\n");
    let out = common::containers::rb(&s, &["attach", "fg"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success() && stderr.contains("is not served"), "{stderr}");
    fg.type_line("exit 0");
    assert_eq!(fg.exit_code(), Some(0), "{}", fg.seen);
    // The terminal's output of that foreground run is in its log too, as docker keeps it.
    let log = common::containers::ok(&s, &["logs", "fg"]);
    assert!(log.contains("ready-2\r\n"), "{log}");
}

#[test]
fn two_attached_clients_both_get_the_output_and_each_ones_input_goes_in() {
    let s = common::containers::busybox();
    common::containers::ok(&s, &["run", "-d", "-it", "--network", "none", "--name", "two", "busybox", "sh"]);
    // Each client is known to be connected once its own line was answered.
    let mut a = Session::start(&s, &["attach", "two"], 24, 80);
    a.type_line("echo a-up-$((1+1))");
    a.expect("a-up-2\r\n");
    let mut b = Session::start(&s, &["attach", "two"], 24, 80);
    b.type_line("echo b-up-$((2+2))");
    b.expect("b-up-4\r\n");
    // A line from each: both see both answers.
    a.type_line("echo from-$((40+1))");
    a.expect("from-41\r\n");
    b.expect("from-41\r\n");
    b.type_line("echo from-$((50+2))");
    b.expect("from-52\r\n");
    a.expect("from-52\r\n");
    // One detaching leaves the other attached.
    a.master.write_all(b"\x10\x11").unwrap();
    assert_eq!(a.exit_code(), Some(0), "{}", a.seen);
    b.type_line("echo still-$((60+3))");
    b.expect("still-63\r\n");
    b.type_line("exit");
    assert_eq!(b.exit_code(), Some(0), "{}", b.seen);
}
