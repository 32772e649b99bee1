//! File ops (copy, mkdir, mkfile, rm, symlink): action chains with their
//! secondary inputs and owners, as `client/llb` marshals them.

use luakit_graph::{Chown, FileAction, Output, UserRef};

use super::{CapRecorder, Encoder, MarshalError};
use crate::caps::id;
use crate::pb;

impl Encoder {
    pub(super) fn file(
        &mut self,
        file: &luakit_graph::FileOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<(Vec<pb::Input>, pb::FileOp), MarshalError> {
        caps.require(id::FILE_BASE, "file operations")?;
        let mut inputs: Vec<pb::Input> = Vec::new();
        let add = |o: &Option<Output>, inputs: &mut Vec<pb::Input>, me: &mut Self| -> Result<i64, MarshalError> {
            match o {
                Some(o) => {
                    let inp = me.input_of(o)?;
                    Ok(match inputs.iter().position(|x| *x == inp) {
                        Some(i) => i as i64,
                        None => {
                            inputs.push(inp);
                            inputs.len() as i64 - 1
                        }
                    })
                }
                None => Ok(-1),
            }
        };
        // First pass: collect inputs in BuildKit's order (base, then each
        // action's secondary input).
        let base = add(&file.base, &mut inputs, self)?;
        let mut secondaries = Vec::new();
        for a in &file.actions {
            secondaries.push(match a {
                FileAction::Copy { from, .. } => add(from, &mut inputs, self)?,
                _ => -1,
            });
        }
        let n = inputs.len() as i64;
        let mut actions = Vec::new();
        for (i, a) in file.actions.iter().enumerate() {
            let input = if i == 0 { base } else { n + i as i64 - 1 };
            let output = if i + 1 == file.actions.len() { 0 } else { -1 };
            // The checks, then (unless only checking) the action.
            match a {
                FileAction::Copy { opts, .. } => {
                    if !opts.include_patterns.is_empty() || !opts.exclude_patterns.is_empty() {
                        // BuildKit's client never recorded this cap; only refuse on daemons that lack it.
                        if caps.daemon.is_some() {
                            caps.require(id::FILE_COPY_INCLUDE_EXCLUDE, "copy include/exclude")?;
                            caps.caps.remove(id::FILE_COPY_INCLUDE_EXCLUDE);
                        }
                    }
                }
                FileAction::Rm { allow_wildcard, .. } => {
                    if *allow_wildcard && caps.daemon.is_some() {
                        caps.require(id::FILE_RM_WILDCARD, "rm allow_wildcard")?;
                        caps.caps.remove(id::FILE_RM_WILDCARD);
                    }
                }
                FileAction::Symlink { .. } => caps.require(id::FILE_SYMLINK_CREATE, "symlink")?,
                FileAction::Mkfile { .. } | FileAction::Mkdir { .. } => {}
            }
            if self.check_only {
                continue;
            }
            let action = match a {
                FileAction::Copy { src, dest, opts, .. } => pb::file_action::Action::Copy(pb::FileActionCopy {
                    src: src.clone(),
                    dest: dest.clone(),
                    owner: chown(opts.owner.as_ref(), input),
                    mode: opts.mode.map_or(-1, |m| m as i32),
                    follow_symlink: opts.follow_symlink,
                    dir_copy_contents: opts.copy_dir_contents,
                    attempt_unpack_docker_compatibility: opts.attempt_unpack_docker_compatibility,
                    create_dest_path: opts.create_dest_path,
                    allow_wildcard: opts.allow_wildcard,
                    allow_empty_wildcard: opts.allow_empty_wildcard,
                    timestamp: opts.timestamp.unwrap_or(-1),
                    include_patterns: opts.include_patterns.clone(),
                    exclude_patterns: opts.exclude_patterns.clone(),
                    always_replace_existing_dest_paths: opts.always_replace_existing_dest_paths,
                    ..Default::default()
                }),
                FileAction::Mkfile { path, mode, data, owner, timestamp } => {
                    pb::file_action::Action::Mkfile(pb::FileActionMkFile {
                        path: path.clone(),
                        mode: *mode as i32,
                        data: data.clone(),
                        owner: chown(owner.as_ref(), input),
                        timestamp: timestamp.unwrap_or(-1),
                    })
                }
                FileAction::Mkdir { path, mode, make_parents, owner, timestamp } => {
                    pb::file_action::Action::Mkdir(pb::FileActionMkDir {
                        path: path.clone(),
                        mode: *mode as i32,
                        make_parents: *make_parents,
                        owner: chown(owner.as_ref(), input),
                        timestamp: timestamp.unwrap_or(-1),
                    })
                }
                FileAction::Rm { path, allow_not_found, allow_wildcard } => {
                    pb::file_action::Action::Rm(pb::FileActionRm {
                        path: path.clone(),
                        allow_not_found: *allow_not_found,
                        allow_wildcard: *allow_wildcard,
                    })
                }
                FileAction::Symlink { oldpath, newpath, owner, timestamp } => {
                    pb::file_action::Action::Symlink(pb::FileActionSymlink {
                        oldpath: oldpath.clone(),
                        newpath: newpath.clone(),
                        owner: chown(owner.as_ref(), input),
                        timestamp: timestamp.unwrap_or(-1),
                    })
                }
            };
            actions.push(pb::FileAction { input, secondary_input: secondaries[i], output, action: Some(action) });
        }
        Ok((inputs, pb::FileOp { actions }))
    }
}

fn user_opt(u: &UserRef, input: i64) -> pb::UserOpt {
    pb::UserOpt {
        user: Some(match u {
            UserRef::Id(id) => pb::user_opt::User::ById(*id),
            UserRef::Name(name) => pb::user_opt::User::ByName(pb::NamedUserOpt { name: name.clone(), input }),
        }),
    }
}

fn chown(c: Option<&Chown>, input: i64) -> Option<pb::ChownOpt> {
    let c = c?;
    if c.user.is_none() && c.group.is_none() {
        return None;
    }
    Some(pb::ChownOpt {
        user: c.user.as_ref().map(|u| user_opt(u, input)),
        group: c.group.as_ref().map(|g| user_opt(g, input)),
    })
}
