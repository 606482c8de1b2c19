//! Tests of the composed fleet rules.
