//! The OCI runtime spec's `linux.seccomp` section compiled into a classic-BPF seccomp filter:
//! the second source of the target's filter for `procroot exec --config config.json`, when the
//! live filter cannot be copied out of the target (`PTRACE_SECCOMP_GET_FILTER` needs
//! `CAP_SYS_ADMIN` in the initial user namespace and `CONFIG_CHECKPOINT_RESTORE`).
//!
//! The compiled filter kills the process on any architecture but the native one (and x32 on
//! x86-64): syscall numbers differ between architectures, so a 32-bit entry point would reach
//! syscalls the rules never named; stricter than the profile, never looser. Then each rule in the
//! profile's order, first match decides (conditions on the same argument index are separate
//! rules, as runc does), then `defaultAction`. 64-bit arguments are compared as two 32-bit halves,
//! high half first.
//!
//! Refused, with the reason, rather than compiled into something looser: `SCMP_ACT_NOTIFY`, the
//! flags `LOG`, `SPEC_ALLOW` and `WAIT_KILLABLE_RECV`, a syscall name no architecture knows, an
//! argument index above 5, an errno above 4095, `SCMP_CMP_MASKED_EQ` without `valueTwo`, a rule
//! without names, and a filter over the kernel's 4096 instructions.
//!
//! The full account: docs/ARCHITECTURE.md, "The OCI seccomp profile".

#![forbid(unsafe_code)]

use std::path::Path;
use std::str::FromStr;

use oci_spec::runtime::{
    LinuxSeccomp, LinuxSeccompAction, LinuxSeccompArg, LinuxSeccompFilterFlag, LinuxSeccompOperator,
};
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::sys::creds::BpfInsn;

// Classic BPF opcodes (`include/uapi/linux/bpf_common.h`).
const LD_W_ABS: u16 = 0x20; // BPF_LD | BPF_W | BPF_ABS
const AND_K: u16 = 0x54; // BPF_ALU | BPF_AND | BPF_K
const JEQ_K: u16 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const JGT_K: u16 = 0x25; // BPF_JMP | BPF_JGT | BPF_K
const JGE_K: u16 = 0x35; // BPF_JMP | BPF_JGE | BPF_K
const RET_K: u16 = 0x06; // BPF_RET | BPF_K

// `struct seccomp_data` offsets.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

// Return values (`include/uapi/linux/seccomp.h`).
const RET_KILL_PROCESS: u32 = 0x8000_0000;
const RET_KILL_THREAD: u32 = 0;
const RET_TRAP: u32 = 0x0003_0000;
const RET_ERRNO: u32 = 0x0005_0000;
const RET_TRACE: u32 = 0x7ff0_0000;
const RET_LOG: u32 = 0x7ffc_0000;
const RET_ALLOW: u32 = 0x7fff_0000;

/// `BPF_MAXINSNS`: the kernel refuses a longer program.
const MAX_INSNS: usize = 4096;
/// `MAX_ERRNO`: the kernel clamps larger values, which would no longer be the profile's.
const MAX_ERRNO: u32 = 4095;

/// The native architecture's `AUDIT_ARCH_*` value (what `seccomp_data.arch` holds).
#[cfg(target_arch = "x86_64")]
const NATIVE: Option<u32> = Some(0xc000_003e);
#[cfg(target_arch = "aarch64")]
const NATIVE: Option<u32> = Some(0xc000_00b7);
#[cfg(target_arch = "riscv64")]
const NATIVE: Option<u32> = Some(0xc000_00f3);
#[cfg(target_arch = "s390x")]
const NATIVE: Option<u32> = Some(0x8000_0016);
#[cfg(not(any(
    target_arch = "x86_64",
    target_arch = "aarch64",
    target_arch = "riscv64",
    target_arch = "s390x"
)))]
const NATIVE: Option<u32> = None;

/// `__X32_SYSCALL_BIT`: x32 syscalls arrive with the x86-64 arch and this bit set.
#[cfg(target_arch = "x86_64")]
const X32_BIT: Option<u32> = Some(0x4000_0000);
#[cfg(not(target_arch = "x86_64"))]
const X32_BIT: Option<u32> = None;

fn refuse(detail: String) -> Error {
    Error::invalid_input(Errno::INVAL, detail)
}

/// Reads the `linux.seccomp` section of the OCI runtime config at `path` (read as
/// [`crate::container::OciHardening::load`] reads it: a regular file only, reopened through
/// the hardened procfs), and checks that it compiles ([`compile`]). A config without that
/// section is `InvalidInput`: it cannot stand in for a filter the target has.
pub fn load_profile(path: &Path) -> Result<LinuxSeccomp> {
    let spec = crate::container::load_spec(path)?;
    let profile = spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().clone())
        .ok_or_else(|| {
            refuse("the config has no linux.seccomp section".into())
                .context("read OCI config", path)
        })?;
    compile(&profile).map_err(|e| e.context("compile linux.seccomp of", path))?;
    Ok(profile)
}

/// Compiles `profile` (an OCI `linux.seccomp` section) into one classic-BPF seccomp program for
/// the native architecture (see the module documentation for its shape and what is refused).
pub fn compile(profile: &LinuxSeccomp) -> Result<Vec<BpfInsn>> {
    let Some(native) = NATIVE else {
        return Err(Error::with_detail(
            ErrorKind::NotSupported,
            Errno::OPNOTSUPP,
            "procroot compiles seccomp profiles for x86_64, aarch64, riscv64 and s390x only",
        ));
    };
    for flag in profile.flags().iter().flatten() {
        if *flag != LinuxSeccompFilterFlag::SeccompFilterFlagTsync {
            return Err(refuse(format!(
                "seccomp flag {flag} is not supported (procroot installs the filter with \
                 prctl(PR_SET_SECCOMP), which takes no flags)"
            )));
        }
    }
    let default = action(
        profile.default_action(),
        profile.default_errno_ret(),
        "defaultAction",
    )?;
    let mut prog = vec![
        stmt(LD_W_ABS, OFF_ARCH),
        jump(JEQ_K, native, 1, 0),
        stmt(RET_K, RET_KILL_PROCESS),
        stmt(LD_W_ABS, OFF_NR),
    ];
    if let Some(bit) = X32_BIT {
        prog.push(jump(JGE_K, bit, 0, 1));
        prog.push(stmt(RET_K, RET_KILL_PROCESS));
    }
    for (i, rule) in profile.syscalls().iter().flatten().enumerate() {
        let what = format!("syscalls[{i}]");
        if rule.names().is_empty() {
            return Err(refuse(format!("{what} names no syscall")));
        }
        let ret = action(rule.action(), rule.errno_ret(), &what)?;
        let args = rule.args().as_deref().unwrap_or(&[]);
        for arg in args {
            if arg.index() > 5 {
                return Err(refuse(format!(
                    "{what}: argument index {} (a syscall has arguments 0 to 5)",
                    arg.index()
                )));
            }
            if arg.op() == LinuxSeccompOperator::ScmpCmpMaskedEq && arg.value_two().is_none() {
                return Err(refuse(format!(
                    "{what}: SCMP_CMP_MASKED_EQ needs valueTwo (the value after the mask)"
                )));
            }
        }
        // Conditions on one index each are ANDed; repeated indices make one rule per condition.
        let repeated = args
            .iter()
            .any(|a| args.iter().filter(|b| b.index() == a.index()).count() > 1);
        let groups: Vec<Vec<LinuxSeccompArg>> = if repeated {
            args.iter().map(|a| vec![*a]).collect()
        } else {
            vec![args.to_vec()]
        };
        for name in rule.names() {
            let Some(nr) = syscall_number(name)? else {
                continue;
            };
            for conds in &groups {
                prog.extend(rule_block(nr, conds, ret));
            }
        }
    }
    prog.push(stmt(RET_K, default));
    if prog.len() > MAX_INSNS {
        return Err(refuse(format!(
            "the profile compiles to {} instructions; the kernel takes at most {MAX_INSNS}",
            prog.len()
        )));
    }
    Ok(prog)
}

/// The native number of syscall `name`: `None` for a name only other architectures know,
/// `InvalidInput` naming it when none does.
fn syscall_number(name: &str) -> Result<Option<u32>> {
    if let Ok(nr) = syscalls::Sysno::from_str(name) {
        return Ok(Some(nr.id() as u32));
    }
    let elsewhere = syscalls::x86::Sysno::from_str(name).is_ok()
        || syscalls::x86_64::Sysno::from_str(name).is_ok()
        || syscalls::arm::Sysno::from_str(name).is_ok()
        || syscalls::aarch64::Sysno::from_str(name).is_ok()
        || syscalls::riscv64::Sysno::from_str(name).is_ok()
        || syscalls::s390x::Sysno::from_str(name).is_ok()
        || syscalls::powerpc::Sysno::from_str(name).is_ok()
        || syscalls::powerpc64::Sysno::from_str(name).is_ok()
        || syscalls::mips::Sysno::from_str(name).is_ok()
        || syscalls::mips64::Sysno::from_str(name).is_ok()
        || syscalls::sparc64::Sysno::from_str(name).is_ok()
        || syscalls::loongarch64::Sysno::from_str(name).is_ok();
    if elsewhere {
        Ok(None)
    } else {
        Err(refuse(format!(
            "unknown syscall name {name:?} in the seccomp profile (no architecture has it)"
        )))
    }
}

/// The `SECCOMP_RET_*` value of an OCI action.
fn action(act: LinuxSeccompAction, errno_ret: Option<u32>, what: &str) -> Result<u32> {
    let data = |default: u32| -> Result<u32> {
        let v = errno_ret.unwrap_or(default);
        if v > MAX_ERRNO {
            return Err(refuse(format!(
                "{what}: errnoRet {v} is above the kernel's largest errno ({MAX_ERRNO})"
            )));
        }
        Ok(v)
    };
    Ok(match act {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => RET_KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => RET_KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => RET_TRAP,
        LinuxSeccompAction::ScmpActErrno => RET_ERRNO | data(libc::EPERM as u32)?,
        LinuxSeccompAction::ScmpActTrace => RET_TRACE | data(libc::EPERM as u32)?,
        LinuxSeccompAction::ScmpActLog => RET_LOG,
        LinuxSeccompAction::ScmpActAllow => RET_ALLOW,
        LinuxSeccompAction::ScmpActNotify => {
            return Err(refuse(format!(
                "{what}: SCMP_ACT_NOTIFY is not supported (it needs a seccomp agent listening \
                 for the container)"
            )))
        }
    })
}

fn stmt(code: u16, k: u32) -> BpfInsn {
    BpfInsn {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> BpfInsn {
    BpfInsn { code, jt, jf, k }
}

/// Where a conditional jump of a condition goes.
#[derive(Clone, Copy)]
enum To {
    /// The next instruction.
    Next,
    /// Past the condition: it holds.
    Pass,
    /// Past the rule: it does not match.
    Fail,
}

/// An instruction of a rule, its jumps still symbolic.
enum Op {
    Load(u32),
    And(u32),
    Jump(u16, u32, To, To),
}

/// The offsets of the two 32-bit halves of argument `index` in `seccomp_data`: (high, low).
fn halves(index: usize) -> (u32, u32) {
    let at = OFF_ARGS + 8 * index as u32;
    if cfg!(target_endian = "little") {
        (at + 4, at)
    } else {
        (at, at + 4)
    }
}

/// The instructions that test one condition, on the two halves of a 64-bit argument.
fn condition(arg: &LinuxSeccompArg) -> Vec<Op> {
    use LinuxSeccompOperator as O;
    use To::{Fail, Next, Pass};
    let (hi_at, lo_at) = halves(arg.index());
    let v = arg.value();
    let (hi, lo) = ((v >> 32) as u32, v as u32);
    match arg.op() {
        O::ScmpCmpEq => vec![
            Op::Load(hi_at),
            Op::Jump(JEQ_K, hi, Next, Fail),
            Op::Load(lo_at),
            Op::Jump(JEQ_K, lo, Next, Fail),
        ],
        O::ScmpCmpNe => vec![
            Op::Load(hi_at),
            Op::Jump(JEQ_K, hi, Next, Pass),
            Op::Load(lo_at),
            Op::Jump(JEQ_K, lo, Fail, Next),
        ],
        O::ScmpCmpGt => vec![
            Op::Load(hi_at),
            Op::Jump(JGT_K, hi, Pass, Next),
            Op::Jump(JEQ_K, hi, Next, Fail),
            Op::Load(lo_at),
            Op::Jump(JGT_K, lo, Next, Fail),
        ],
        O::ScmpCmpGe => vec![
            Op::Load(hi_at),
            Op::Jump(JGT_K, hi, Pass, Next),
            Op::Jump(JEQ_K, hi, Next, Fail),
            Op::Load(lo_at),
            Op::Jump(JGE_K, lo, Next, Fail),
        ],
        O::ScmpCmpLt => vec![
            Op::Load(hi_at),
            Op::Jump(JGT_K, hi, Fail, Next),
            Op::Jump(JEQ_K, hi, Next, Pass),
            Op::Load(lo_at),
            Op::Jump(JGE_K, lo, Fail, Next),
        ],
        O::ScmpCmpLe => vec![
            Op::Load(hi_at),
            Op::Jump(JGT_K, hi, Fail, Next),
            Op::Jump(JEQ_K, hi, Next, Pass),
            Op::Load(lo_at),
            Op::Jump(JGT_K, lo, Fail, Next),
        ],
        O::ScmpCmpMaskedEq => {
            // valueTwo is checked present by `compile`.
            let d = arg.value_two().unwrap_or(0);
            vec![
                Op::Load(hi_at),
                Op::And(hi),
                Op::Jump(JEQ_K, (d >> 32) as u32, Next, Fail),
                Op::Load(lo_at),
                Op::And(lo),
                Op::Jump(JEQ_K, d as u32, Next, Fail),
            ]
        }
    }
}

/// One rule: the syscall number, every condition, and the action; a failed test jumps past
/// the block (to the next rule). A block is at most 2 + 6 × 6 + 1 instructions, so every jump
/// fits the 8-bit offsets of classic BPF.
fn rule_block(nr: u32, conds: &[LinuxSeccompArg], ret: u32) -> Vec<BpfInsn> {
    // (ops of each condition); positions are resolved once the block's length is known.
    let conds: Vec<Vec<Op>> = conds.iter().map(condition).collect();
    let len = 2 + conds.iter().map(Vec::len).sum::<usize>() + 1;
    let mut out = Vec::with_capacity(len);
    out.push(stmt(LD_W_ABS, OFF_NR));
    // The block's last instruction is the return; "fail" jumps to the one after it.
    out.push(jump(JEQ_K, nr, 0, (len - 2) as u8));
    for ops in conds {
        let start = out.len();
        let end = start + ops.len();
        for (i, op) in ops.into_iter().enumerate() {
            let at = start + i;
            let offset = |to: To| -> u8 {
                let target = match to {
                    To::Next => at + 1,
                    To::Pass => end,
                    To::Fail => len,
                };
                (target - at - 1) as u8
            };
            out.push(match op {
                Op::Load(k) => stmt(LD_W_ABS, k),
                Op::And(k) => stmt(AND_K, k),
                Op::Jump(code, k, t, f) => jump(code, k, offset(t), offset(f)),
            });
        }
    }
    out.push(stmt(RET_K, ret));
    debug_assert_eq!(out.len(), len);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("a profile")
    }

    /// Every rule block's jumps land inside the program (a jump past the end would make the
    /// kernel refuse it; one inside the wrong block would change the verdict).
    #[test]
    fn jumps_stay_inside_the_program() {
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
                {"names":["mkdirat","personality"],"action":"SCMP_ACT_ERRNO","errnoRet":1,
                 "args":[{"index":0,"value":1,"op":"SCMP_CMP_NE"},
                         {"index":1,"value":4294967296,"op":"SCMP_CMP_GT"},
                         {"index":2,"value":7,"valueTwo":3,"op":"SCMP_CMP_MASKED_EQ"},
                         {"index":3,"value":5,"op":"SCMP_CMP_LT"},
                         {"index":4,"value":5,"op":"SCMP_CMP_LE"},
                         {"index":5,"value":5,"op":"SCMP_CMP_GE"}]}]}"#,
        );
        let prog = compile(&p).expect("compiles");
        for (i, insn) in prog.iter().enumerate() {
            if insn.code & 0x07 == 0x05 {
                assert!(i + 1 + (insn.jt as usize) < prog.len());
                assert!(i + 1 + (insn.jf as usize) < prog.len());
            }
        }
        assert_eq!(prog.last().unwrap().k, RET_ALLOW);
    }

    /// What is not supported is refused, naming it.
    #[test]
    fn unsupported_profiles_are_refused_by_name() {
        let cases = [
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdirr"],"action":"SCMP_ACT_ERRNO"}]}"#,
                "\"mkdirr\"",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
                "SCMP_ACT_NOTIFY",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#,
                "SECCOMP_FILTER_FLAG_LOG",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":5000}"#,
                "errnoRet 5000",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
                "index 6",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_ERRNO","args":[{"index":0,"value":1,"op":"SCMP_CMP_MASKED_EQ"}]}]}"#,
                "valueTwo",
            ),
            (
                r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":[],"action":"SCMP_ACT_ERRNO"}]}"#,
                "names no syscall",
            ),
        ];
        for (json, needle) in cases {
            let err = compile(&profile(json)).expect_err(json);
            assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
            assert!(err.to_string().contains(needle), "{needle}: {err}");
        }
        // More than the kernel's 4096 instructions (three per name without arguments).
        let names = vec!["\"getpid\""; 1400].join(",");
        let err = compile(&profile(&format!(
            r#"{{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{{"names":[{names}],"action":"SCMP_ACT_ERRNO"}}]}}"#
        )))
        .expect_err("too long");
        assert!(err.to_string().contains("at most 4096"), "{err}");
        // TSYNC is accepted (one thread installs the filter).
        compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_TSYNC"]}"#,
        ))
        .expect("TSYNC");
        // A name only another architecture has is skipped (Docker's profile lists some).
        #[cfg(target_arch = "x86_64")]
        compile(&profile(
            r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["arm_fadvise64_64"],"action":"SCMP_ACT_ERRNO"}]}"#,
        ))
        .expect("a name of another architecture");
    }
}
