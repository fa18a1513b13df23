import RingfenceKit
print("ringfence")
