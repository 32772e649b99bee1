//! Merge and diff ops (`bk.merge`, `bk.diff`): input indexes and their caps,
//! as `client/llb` marshals them.

use luakit_graph::Output;

use super::{CapRecorder, Encoder, MarshalError};
use crate::caps::id;
use crate::pb;

impl Encoder {
    pub(super) fn merge(
        &mut self,
        merge: &luakit_graph::MergeOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<(Vec<pb::Input>, pb::MergeOp), MarshalError> {
        caps.require(id::MERGE_OP, "bk.merge")?;
        let mut inputs = Vec::new();
        let mut mi = Vec::new();
        for o in merge.inputs.iter().flatten() {
            mi.push(pb::MergeInput { input: inputs.len() as i64 });
            inputs.push(self.input_of(o)?);
        }
        Ok((inputs, pb::MergeOp { inputs: mi }))
    }

    pub(super) fn diff(
        &mut self,
        diff: &luakit_graph::DiffOp,
        caps: &mut CapRecorder<'_>,
    ) -> Result<(Vec<pb::Input>, pb::DiffOp), MarshalError> {
        caps.require(id::DIFF_OP, "bk.diff")?;
        let mut inputs = Vec::new();
        let idx = |o: &Option<Output>, inputs: &mut Vec<pb::Input>, me: &mut Self| -> Result<i64, MarshalError> {
            match o {
                Some(o) => {
                    inputs.push(me.input_of(o)?);
                    Ok(inputs.len() as i64 - 1)
                }
                None => Ok(-1),
            }
        };
        let lower = idx(&diff.lower, &mut inputs, self)?;
        let upper = idx(&diff.upper, &mut inputs, self)?;
        Ok((
            inputs,
            pb::DiffOp {
                lower: Some(pb::LowerDiffInput { input: lower }),
                upper: Some(pb::UpperDiffInput { input: upper }),
            },
        ))
    }
}
