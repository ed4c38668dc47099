//! Helm templates that hold ServiceMeshExtensions.

use super::walk::SourceFile;
use super::{Counters, DocPlan};
use crate::convert::Options;
use crate::notify::Notification;
use crate::yaml::{self, Document};

pub fn is_template(text: &str) -> bool {
    text.contains("{{")
}

pub fn plan_template<'a>(
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
