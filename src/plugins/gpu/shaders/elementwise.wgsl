// Helper functions for the generated elementwise shaders (every row's WGSL expression may call them).
// The generated part (bindings, one function per op, the entry point) is appended by kernels/elementwise.rs.

fn fv_sigmoid(x: f32) -> f32 {
    return 1.0 / (1.0 + exp(-x));
}

// tanh through exp(-2|x|): no overflow for large |x| (some drivers compute tanh as a quotient of exponentials).
fn fv_tanh(x: f32) -> f32 {
    let e = exp(-2.0 * abs(x));
    let t = (1.0 - e) / (1.0 + e);
    return select(-t, t, x >= 0.0);
}

fn fv_softplus(x: f32) -> f32 {
    return select(log(1.0 + exp(x)), x, x > 20.0);
}

// erf by Abramowitz & Stegun 7.1.26 (absolute error below 1.5e-7).
fn fv_erf(x: f32) -> f32 {
    let z = abs(x);
    let t = 1.0 / (1.0 + 0.3275911 * z);
    let poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))));
    let r = 1.0 - poly * exp(-z * z);
    return select(-r, r, x >= 0.0);
}

// pow with the real result for a negative base and an integral exponent (WGSL's pow is undefined there).
fn fv_pow(a: f32, b: f32) -> f32 {
    if (a >= 0.0 || b != floor(b)) {
        return pow(a, b);
    }
    let m = pow(-a, b);
    return select(m, -m, b - 2.0 * floor(b * 0.5) == 1.0);
}

// C's fmod (the remainder with the dividend's sign); a finite dividend over an infinite divisor is the dividend
// (WGSL's `%` computes a - b * trunc(a / b), which is NaN there).
fn fv_fmod(a: f32, b: f32) -> f32 {
    if (abs(b) > 3.4028235e38 && abs(a) <= 3.4028235e38) {
        return a;
    }
    return a - b * trunc(a / b);
}

// The remainder with the divisor's sign (Python's %).
fn fv_floor_mod(a: f32, b: f32) -> f32 {
    let r = fv_fmod(a, b);
    if (r != 0.0 && ((r < 0.0) != (b < 0.0))) {
        return r + b;
    }
    return r;
}
