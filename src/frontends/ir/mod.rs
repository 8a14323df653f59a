//! The OpenVINO IR (v10/v11) reader and writer.
