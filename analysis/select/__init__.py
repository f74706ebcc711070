"""The selection of the BMM kernel configuration from sweep results (the
package that replaces formats/select_config.py; the split is under way)."""
