//! kustomize: patches that target ServiceMeshExtension.

use super::walk::SourceFile;
use super::{Counters, DocPlan};
use crate::convert::Options;
use crate::notify::Notification;
use crate::yaml::{self, Document};

pub struct PatchUses;

pub struct PatchIndex;

impl PatchIndex {
    pub fn build(_files: &[SourceFile], _notes: &mut Vec<Notification>) -> PatchIndex {
        PatchIndex
    }
    pub fn uses(&self, _name: &str) -> Option<&PatchUses> {
        None
    }
}

pub fn plan_kustomization<'a>(
    file: &'a SourceFile,
    _opts: &Options,
    _notes: &mut Vec<Notification>,
    _counters: &mut Counters,
) -> Vec<(Document<'a>, DocPlan)> {
    yaml::split_documents(&file.text)
        .into_iter()
        .map(|d| (d, DocPlan::Keep))
        .collect()
}

pub fn plan_patch_file<'a>(
    file: &'a SourceFile,
    _uses: &PatchUses,
    _opts: &Options,
    _notes: &mut Vec<Notification>,
    _counters: &mut Counters,
) -> Vec<(Document<'a>, DocPlan)> {
    yaml::split_documents(&file.text)
        .into_iter()
        .map(|d| (d, DocPlan::Keep))
        .collect()
}
