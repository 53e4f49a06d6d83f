//! Scene graphs: which pairs of frames go through the network (being written).
