"""AppImages: the service images, built from archon:appSource with docker.Image or named prebuilt in config."""

from __future__ import annotations

import os
from pathlib import Path

import pulumi
import pulumi_docker as docker

from components.component import Component
from components.service_catalog import AppService
from stackconfig.model import Images

DOCKER_DIR = Path(__file__).resolve().parents[1] / "docker"
DOCKERFILES = "docker"  # DOCKER_DIR, as the build inputs name it: relative to the project directory


class AppImages(Component):
    """One image reference per service: the build's repo digest, or the configured prebuilt reference."""

    refs: dict[str, pulumi.Input[str]]

    def __init__(self, name: str, *, images: Images, app_source: str | None, services: list[AppService],
                 registry_password: pulumi.Input[str] | None, opts: pulumi.ResourceOptions | None = None) -> None:
        super().__init__("archon:components:AppImages", name, opts)
        self.refs = {}
        registry = None
        if registry_password is not None:
            registry = docker.RegistryArgs(server=images.registry.split("/", 1)[0],
                                           username=images.registry_username, password=registry_password)
        for spec in services:
            if spec.key in images.prebuilt:
                self.refs[spec.key] = images.prebuilt[spec.key]
                continue
            repository = f"{images.registry}/{spec.key}"
            image = docker.Image(
                f"{name}-{spec.key}",
                image_name=f"{repository}:{images.tag}",
                # Both paths relative to the project directory (the program's working directory), so they are the
                # same on every machine and a laptop/CI switch changes no build input.
                build=docker.DockerBuildArgs(
                    context=os.path.normpath(os.path.join(app_source or ".", spec.context)),
                    dockerfile=f"{DOCKERFILES}/{spec.dockerfile}",
                    platform=images.platform,
                    args=spec.build_args or None,
                    cache_from=docker.CacheFromArgs(images=[f"{repository}:{images.tag}"]) if images.cache_from
                    else None),
                registry=registry,
                skip_push=images.skip_push,
                opts=self.child)
            # A pushed image is deployed by digest; an unpushed one (local clusters) only has its name.
            self.refs[spec.key] = image.image_name if images.skip_push else image.repo_digest
        self.register_outputs({"images": self.refs})
