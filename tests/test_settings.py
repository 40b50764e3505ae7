"""One settings model: the click options, the camera file and the backlog all come from its fields."""

from __future__ import annotations

import dataclasses

import click
import pytest

from vidlle.cli import cli
from vidlle.options import from_options
from vidlle.scale.config import SERVE_LIVE, parse_config
from vidlle.settings import CLI, YAML, EncodeConfig, EnhancerConfig, LiveConfig, check_value, settings_of


def _params(command: str) -> dict[str, click.Parameter]:
    return {p.name: p for p in cli.commands[command].params}


@pytest.mark.parametrize("command, classes", [
    ("enhance", (EnhancerConfig, EncodeConfig, LiveConfig)),
    ("preview", (EnhancerConfig, LiveConfig)),
])
def test_every_command_line_field_is_an_option_with_the_fields_default_and_help(command, classes):
    params = _params(command)
    for cls in classes:
        for field, setting in settings_of(cls, CLI):
            option = params[field.name]
            assert option.help == setting.help
            if setting.auto is not None:
                assert option.default == setting.auto
            elif field.type != "bool" or field.default:
                assert option.default == field.default
            if setting.choices:
                assert tuple(option.type.choices) == setting.choices


def test_options_build_the_configs_back_with_their_defaults():
    ctx = cli.commands["enhance"].make_context("enhance", ["in.mp4", "out.mp4", "--crf", "30", "--timeout", "20",
                                                           "--strength", "0.5", "--no-temporal"])
    values = ctx.params
    assert from_options(EnhancerConfig, values) == EnhancerConfig(strength=0.5, temporal=False)
    assert from_options(EncodeConfig, values) == EncodeConfig(crf=30)
    assert from_options(LiveConfig, values).read_timeout == 20.0


def test_every_camera_file_key_is_a_field_with_its_default():
    keys = {f.name for cls in (EnhancerConfig, EncodeConfig, LiveConfig) for f, _ in settings_of(cls, YAML)}
    assert {"model", "weights", "backend", "device", "precision", "temporal", "strength", "overlay", "seg_weights",
            "codec", "crf", "preset", "transport", "open_timeout", "read_timeout", "max_reconnects",
            "wait_for_source"} <= keys
    cam = parse_config({"cameras": [{"name": "a", "source": "testsrc"}]}).cameras[0]
    assert cam.enhancer == EnhancerConfig() and cam.encode == EncodeConfig()
    # the one default a service changes, and says why (vidlle.scale.config.SERVE_LIVE)
    assert cam.live == SERVE_LIVE == dataclasses.replace(LiveConfig(), wait_for_source=True)


@pytest.mark.parametrize("cls, name, value, message", [
    (EnhancerConfig, "precision", "fp8", "precision must be one of fp32, fp16"),
    (EnhancerConfig, "strength", 3, "strength must be auto or a number in 0..2"),
    (EnhancerConfig, "temporal", "yes", "temporal must be true or false, not 'yes'"),
    (EncodeConfig, "crf", 70, "crf must be 0..63"),
    (LiveConfig, "read_timeout", 0, "read_timeout must be positive"),
    (LiveConfig, "max_reconnects", -1, "max_reconnects must be >= 0"),
])
def test_file_values_are_checked_against_the_field_in_one_line(cls, name, value, message):
    field = {f.name: f for f in dataclasses.fields(cls)}[name]
    with pytest.raises(ValueError) as info:
        check_value(field, value)
    assert str(info.value) == message


def test_file_values_are_converted_to_the_fields_type():
    fields = {f.name: f for f in dataclasses.fields(EnhancerConfig)}
    assert check_value(fields["strength"], "auto") is None and check_value(fields["strength"], 1) == 1.0
    assert check_value(fields["weights"], None) is None


def test_live_buffer_is_bounded_in_bytes():
    from vidlle.settings import LiveConfig

    cfg = LiveConfig(drop_policy="buffer", buffer_seconds=60)
    uhd = 3840 * 2160 * 3 // 2  # one decoded 4K yuv420p frame, ~12 MB
    assert cfg.capacity(30.0) == 1200  # seconds alone would allow 60 s: ~15 GB of 4K frames
    assert cfg.capacity(30.0, uhd) == 1024 * 2**20 // uhd == 86  # the 1024 MB default holds 86 of them
    assert LiveConfig(drop_policy="buffer", buffer_mb=64).capacity(30.0, uhd) == 5
    assert cfg.capacity(30.0, 1280 * 720 * 3 // 2) == 776  # 720p: bytes still the tighter bound at 60 s
