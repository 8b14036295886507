"""The definition language: YAML read with line numbers, validated into immutable
definitions, overlaid by authority profiles and collected in a registry.

Nothing here touches a database or a clock: a definition is pure data.
"""
