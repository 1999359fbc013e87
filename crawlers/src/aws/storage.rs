//! `volumes-list`, `snapshot-list` and `images-list`: EBS volumes, and the snapshots
//! and machine images the account owns itself (not the public ones it can merely see).

use aws_sdk_ec2::types::{Image, Snapshot, Volume};
use domain::Kind;

use super::observe::{placement, Item};
use super::session::Session;
use crate::{CrawlError, Observation};

const DESCRIBE_VOLUMES: &str = "ec2 DescribeVolumes";
const DESCRIBE_SNAPSHOTS: &str = "ec2 DescribeSnapshots";
const DESCRIBE_IMAGES: &str = "ec2 DescribeImages";

/// Only what the account itself owns.
const OWNER_SELF: &str = "self";

pub(super) async fn volumes(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_VOLUMES,
        session
            .ec2()
            .describe_volumes()
            .into_paginator()
            .page_size(session.page_size(5, 500)),
        |page| page.volumes(),
        |item| volume(item, session.region())
    )
}

pub(super) async fn snapshots(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_SNAPSHOTS,
        session
            .ec2()
            .describe_snapshots()
            .owner_ids(OWNER_SELF)
            .into_paginator()
            .page_size(session.page_size(5, 1000)),
        |page| page.snapshots(),
        |item| snapshot(item, session.region())
    )
}

pub(super) async fn images(session: &Session) -> Result<Vec<Observation>, CrawlError> {
    map_pages!(
        session,
        DESCRIBE_IMAGES,
        session
            .ec2()
            .describe_images()
            .owners(OWNER_SELF)
            .into_paginator()
            .page_size(session.page_size(1, 1000)),
        |page| page.images(),
        |item| image(item, session.region())
    )
}

/// A volume, named by its id (or by its `Name` tag: see `domain::TagFields`). Size in GB.
fn volume(volume: &Volume, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Volume, volume.volume_id(), DESCRIBE_VOLUMES)?;
    let name = item.id().to_string();
    let state = volume.state().map(|state| state.as_str());
    Ok(item
        .tags(volume.tags())
        .text("name", Some(&name))
        .set("size", volume.size())
        .text("state", state)
        .status(state)
        .text("volume_type", volume.volume_type().map(|t| t.as_str()))
        .set("encrypted", volume.encrypted())
        .set("iops", volume.iops())
        .set("datacenters", placement(region, volume.availability_zone(), None))
        .build())
}

/// A snapshot, named by its id. Size in GB: the size of the volume it was taken of.
fn snapshot(snapshot: &Snapshot, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Snapshot, snapshot.snapshot_id(), DESCRIBE_SNAPSHOTS)?;
    let name = item.id().to_string();
    let state = snapshot.state().map(|state| state.as_str());
    Ok(item
        .tags(snapshot.tags())
        .text("name", Some(&name))
        .text("description", snapshot.description())
        .set("size", snapshot.volume_size())
        .text("state", state)
        .status(state)
        .set("encrypted", snapshot.encrypted())
        .text("volume_id", snapshot.volume_id())
        .set("datacenters", placement(region, None, None))
        .build())
}

/// A machine image, named by its AMI name (its id when it has none). Size in GB: the
/// sum of its EBS volumes.
fn image(image: &Image, region: &str) -> Result<Observation, CrawlError> {
    let item = Item::new(Kind::Image, image.image_id(), DESCRIBE_IMAGES)?;
    let name = image
        .name()
        .filter(|name| !name.trim().is_empty())
        .unwrap_or(item.id())
        .to_string();
    let sizes: Vec<i32> = image
        .block_device_mappings()
        .iter()
        .filter_map(|mapping| mapping.ebs()?.volume_size())
        .collect();
    let size = (!sizes.is_empty()).then(|| sizes.iter().map(|size| i64::from(*size)).sum::<i64>());
    let platform = image
        .platform_details()
        .or_else(|| image.platform().map(|platform| platform.as_str()));
    let state = image.state().map(|state| state.as_str());
    Ok(item
        .tags(image.tags())
        .text("name", Some(&name))
        .text("description", image.description())
        .set("size", size)
        .text("state", state)
        .status(state)
        .text("architecture", image.architecture().map(|a| a.as_str()))
        .text("platform", platform)
        .set("datacenters", placement(region, None, None))
        .build())
}

#[cfg(test)]
mod tests {
    use aws_sdk_ec2::types::{
        ArchitectureValues, BlockDeviceMapping, EbsBlockDevice, ImageState, SnapshotState, VolumeState,
        VolumeType,
    };
    use domain::Fields;
    use serde_json::{json, Value};

    use super::*;

    fn parsed(observation: &Observation) -> impl Fn(&str) -> Value {
        let fields = Fields::parse(observation.kind, &observation.fields)
            .unwrap_or_else(|e| panic!("{}: {e}", observation.provider_id));
        move |name| fields.get(name).cloned().unwrap_or(Value::Null)
    }

    #[test]
    fn a_volume_keeps_size_type_encryption_iops_and_zone() {
        let observation = volume(
            &Volume::builder()
                .volume_id("vol-9")
                .size(100)
                .state(VolumeState::InUse)
                .volume_type(VolumeType::Gp3)
                .encrypted(true)
                .iops(3000)
                .availability_zone("us-east-1c")
                .build(),
            "us-east-1",
        )
        .unwrap();
        assert_eq!(
            (observation.kind, observation.provider_id.as_str()),
            (Kind::Volume, "vol-9")
        );
        let get = parsed(&observation);
        assert_eq!(get("name"), "vol-9");
        assert_eq!(get("size"), 100);
        assert_eq!(get("state"), "in-use");
        assert_eq!(get("status"), "In-use");
        assert_eq!(get("volume_type"), "gp3");
        assert_eq!(get("encrypted"), true);
        assert_eq!(get("iops"), 3000);
        assert_eq!(
            get("datacenters"),
            json!({"provider": "aws", "region": "us-east-1", "zone": "us-east-1c"})
        );
    }

    #[test]
    fn a_snapshot_keeps_its_volume_and_size() {
        let observation = snapshot(
            &Snapshot::builder()
                .snapshot_id("snap-1")
                .volume_id("vol-9")
                .volume_size(8)
                .state(SnapshotState::Completed)
                .encrypted(false)
                .description("nightly")
                .build(),
            "eu-west-1",
        )
        .unwrap();
        let get = parsed(&observation);
        assert_eq!(observation.provider_id, "snap-1");
        assert_eq!(
            (get("name"), get("size"), get("volume_id")),
            (json!("snap-1"), json!(8), json!("vol-9"))
        );
        assert_eq!(
            (get("state"), get("status")),
            (json!("completed"), json!("Available"))
        );
        assert_eq!(get("description"), "nightly");
    }

    #[test]
    fn an_image_is_named_by_its_ami_name_and_sized_by_its_volumes() {
        let ebs = |size| {
            BlockDeviceMapping::builder()
                .ebs(EbsBlockDevice::builder().volume_size(size).build())
                .build()
        };
        let observation = image(
            &Image::builder()
                .image_id("ami-7")
                .name("web-2024-05")
                .state(ImageState::Available)
                .architecture(ArchitectureValues::X8664)
                .platform_details("Linux/UNIX")
                .block_device_mappings(ebs(8))
                .block_device_mappings(ebs(20))
                .build(),
            "eu-west-1",
        )
        .unwrap();
        let get = parsed(&observation);
        assert_eq!(observation.provider_id, "ami-7");
        assert_eq!(get("name"), "web-2024-05");
        assert_eq!(get("size"), 28);
        assert_eq!(get("architecture"), "x86_64");
        assert_eq!(get("platform"), "Linux/UNIX");
        assert_eq!(get("status"), "Available");
        let unnamed = image(&Image::builder().image_id("ami-8").build(), "eu-west-1").unwrap();
        assert_eq!(parsed(&unnamed)("name"), "ami-8");
    }
}
