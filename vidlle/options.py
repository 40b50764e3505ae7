"""Click options derived from the settings' fields (:mod:`vidlle.settings`).

``@options(EnhancerConfig, LiveConfig)`` adds one option per command-line field of each config
(flag, type, choices, range, default and help all come from the field), and
:func:`from_options` builds the config back from click's values. A field's value reaches the
command under the field's name (``--timeout`` arrives as ``read_timeout``).
"""

from __future__ import annotations

import dataclasses

import click

from vidlle.settings import CLI, Setting, settings_of


def options(*classes, skip: tuple[str, ...] = ()):
    """Decorator: a click option for every command-line field of each config class, in order."""

    def decorate(f):
        made = [_option(field, s) for cls in classes for field, s in settings_of(cls, CLI) if field.name not in skip]
        for option in reversed(made):
            f = option(f)
        return f

    return decorate


def from_options(cls, values: dict, **overrides):
    """The config ``cls`` from click's ``values`` (its command-line fields; the others keep
    their defaults), with ``overrides`` applied."""
    given = {field.name: values[field.name] for field, _ in settings_of(cls, CLI) if field.name in values}
    return cls(**{**given, **overrides})


def _option(field: dataclasses.Field, s: Setting):
    flag = s.flag or "--" + field.name.replace("_", "-")
    kind = str(field.type)
    default = field.default
    if "bool" in kind:
        if default:
            return click.option(f"{flag}/--no-{flag[2:]}", field.name, default=True, show_default=True, help=s.help)
        return click.option(flag, field.name, is_flag=True, help=s.help)
    if s.auto is not None:
        return click.option(flag, field.name, default=s.auto, show_default=True, callback=_auto_or_number(s),
                            help=s.help)
    if s.choices:
        kind_type = click.Choice(list(s.choices))
    elif kind.startswith("int"):
        kind_type = click.IntRange(s.low, s.high)
    elif kind.startswith("float"):
        kind_type = click.FloatRange(s.low, s.high)
    elif s.path:
        kind_type = click.Path(dir_okay=False)
    else:
        kind_type = None
    return click.option(flag, field.name, type=kind_type, default=default, show_default=default is not None,
                        help=s.help)


def _auto_or_number(s: Setting):
    """Callback: the ``auto`` word -> None; a number within the field's range -> that number."""

    def convert(ctx, param, value):
        if value is None or str(value).lower() == s.auto:
            return None
        try:
            number = float(value)
        except ValueError:
            raise click.BadParameter(f"{value!r} is not '{s.auto}' or a number") from None
        if (s.low is not None and number < s.low) or (s.high is not None and number > s.high):
            raise click.BadParameter(f"{value} is outside {s.low:g}..{s.high:g}")
        return number

    return convert
