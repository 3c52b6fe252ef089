"""pymultus/model"""
