//! Exec ops (`st:run`): meta, mounts, network/security modes and their caps,
//! as `client/llb` marshals them.

use luakit_graph::{CacheSharing, MountKind, NetMode, SecurityMode};

use super::{CapRecorder, Encoder, MarshalError};
use crate::caps::id;
use crate::pb;

impl Encoder {
    pub(super) fn exec(
        &mut self,
        exec: &luakit_graph::ExecOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<(Vec<pb::Input>, pb::ExecOp), MarshalError> {
        let m = &exec.meta;
        caps.require(id::EXEC_META_BASE, "run")?;
        if exec.network != NetMode::Sandbox {
            caps.require(id::EXEC_META_NETWORK, "run network")?;
        }
        if exec.security != SecurityMode::Sandbox {
            caps.require(id::EXEC_META_SECURITY, "run security")?;
        }
        if m.proxy_env.is_some() {
            caps.require(id::EXEC_META_PROXY, "run proxy env")?;
        }
        if !m.ulimits.is_empty() {
            caps.require(id::EXEC_META_ULIMIT, "run ulimits")?;
        }
        if m.valid_exit_codes.is_some() {
            caps.require(id::EXEC_VALID_EXIT_CODE, "run valid_exit_codes")?;
        }
        if !m.cgroup_parent.is_empty() {
            caps.require(id::EXEC_META_CGROUP_PARENT, "run cgroup parent")?;
        }
        let mut inputs: Vec<pb::Input> = Vec::new();
        let mut mounts = Vec::new();
        let mut out_index = 0i64;
        let mut has_secret = false;
        let mut has_ssh = false;
        for mt in &exec.mounts {
            let mut pm = pb::Mount { dest: mt.dest.clone(), ..Default::default() };
            match &mt.kind {
                MountKind::Secret { id: sid, uid, gid, mode, optional } => {
                    has_secret = true;
                    pm.mount_type = pb::MountType::Secret as i32;
                    pm.secret_opt =
                        Some(pb::SecretOpt { id: sid.clone(), uid: *uid, gid: *gid, mode: *mode, optional: *optional });
                    mounts.push(pm);
                    continue;
                }
                MountKind::Ssh { id: sid, uid, gid, mode, optional } => {
                    has_ssh = true;
                    pm.mount_type = pb::MountType::Ssh as i32;
                    pm.ssh_opt =
                        Some(pb::SshOpt { id: sid.clone(), uid: *uid, gid: *gid, mode: *mode, optional: *optional });
                    mounts.push(pm);
                    continue;
                }
                _ => {}
            }
            pm.input = match mt.source() {
                Some(o) => {
                    let inp = self.input_of(o)?;
                    match inputs.iter().position(|x| *x == inp) {
                        Some(i) => i as i64,
                        None => {
                            inputs.push(inp);
                            inputs.len() as i64 - 1
                        }
                    }
                }
                None => -1,
            };
            pm.output = if mt.has_output() {
                out_index += 1;
                out_index - 1
            } else {
                -1
            };
            match &mt.kind {
                MountKind::Bind { selector, readonly, .. } => {
                    pm.selector = selector.clone();
                    pm.readonly = *readonly;
                    if mt.source().is_some() {
                        caps.require(id::EXEC_MOUNT_BIND, "bind mount")?;
                    }
                }
                MountKind::Cache { id: cid, sharing, selector, readonly, .. } => {
                    pm.selector = selector.clone();
                    pm.readonly = *readonly;
                    pm.mount_type = pb::MountType::Cache as i32;
                    pm.cache_opt = Some(pb::CacheOpt {
                        id: cid.clone(),
                        sharing: match sharing {
                            CacheSharing::Shared => pb::CacheSharingOpt::Shared,
                            CacheSharing::Private => pb::CacheSharingOpt::Private,
                            CacheSharing::Locked => pb::CacheSharingOpt::Locked,
                        } as i32,
                    });
                    caps.require(id::EXEC_MOUNT_CACHE, "bk.cache")?;
                    caps.require(id::EXEC_MOUNT_CACHE_SHARING, "bk.cache sharing")?;
                }
                MountKind::Tmpfs { size } => {
                    pm.mount_type = pb::MountType::Tmpfs as i32;
                    pm.tmpfs_opt = Some(pb::TmpfsOpt { size: *size });
                    caps.require(id::EXEC_MOUNT_TMPFS, "bk.tmpfs")?;
                    if *size > 0 {
                        caps.require(id::EXEC_MOUNT_TMPFS_SIZE, "bk.tmpfs size")?;
                    }
                }
                MountKind::Secret { .. } | MountKind::Ssh { .. } => {}
            }
            if !pm.selector.is_empty() {
                caps.require(id::EXEC_MOUNT_SELECTOR, "bind mount selector")?;
            }
            mounts.push(pm);
        }
        if has_secret || !exec.secret_env.is_empty() {
            caps.require(id::EXEC_MOUNT_SECRET, "bk.secret")?;
        }
        if !exec.secret_env.is_empty() {
            caps.require(id::EXEC_SECRET_ENV, "run secret_env")?;
        }
        if has_ssh {
            caps.require(id::EXEC_MOUNT_SSH, "bk.ssh")?;
        }
        if self.check_only {
            // No check reads the rest.
            return Ok((inputs, pb::ExecOp { mounts, ..Default::default() }));
        }
        let meta = pb::Meta {
            args: m.args.clone(),
            env: m.env.to_vec(),
            cwd: m.cwd.clone(),
            user: m.user.clone(),
            proxy_env: m.proxy_env.as_ref().map(|p| pb::ProxyEnv {
                http_proxy: p.http_proxy.clone(),
                https_proxy: p.https_proxy.clone(),
                ftp_proxy: p.ftp_proxy.clone(),
                no_proxy: p.no_proxy.clone(),
                all_proxy: p.all_proxy.clone(),
            }),
            extra_hosts: m.extra_hosts.iter().map(|h| pb::HostIp { host: h.host.clone(), ip: h.ip.clone() }).collect(),
            hostname: m.hostname.clone(),
            ulimit: m.ulimits.iter().map(|u| pb::Ulimit { name: u.name.clone(), soft: u.soft, hard: u.hard }).collect(),
            cgroup_parent: m.cgroup_parent.clone(),
            remove_mount_stubs_recursive: true,
            valid_exit_codes: m.valid_exit_codes.clone().unwrap_or_default(),
        };
        let e = pb::ExecOp {
            meta: Some(meta),
            mounts,
            network: match exec.network {
                NetMode::Sandbox => pb::NetMode::Unset,
                NetMode::Host => pb::NetMode::Host,
                NetMode::None => pb::NetMode::None,
            } as i32,
            security: match exec.security {
                SecurityMode::Sandbox => pb::SecurityMode::Sandbox,
                SecurityMode::Insecure => pb::SecurityMode::Insecure,
            } as i32,
            secretenv: exec
                .secret_env
                .iter()
                .map(|s| pb::SecretEnv { id: s.id.clone(), name: s.name.clone(), optional: s.optional })
                .collect(),
            ..Default::default()
        };
        Ok((inputs, e))
    }
}
