fn main() {
    println!("kprod");
}
